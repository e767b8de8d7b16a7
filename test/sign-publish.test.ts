import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { bundleFromJSON } from '@sigstore/bundle'
import { Verifier, toSignedEntity } from '@sigstore/verify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { serveInstalled } from './helpers/installed-server.js'
import { freePort, startNginx, stopChild, waitForPort, type RunningNginx } from './helpers/nginx.js'

// The publishing half of signatures, through the installed CLI and the real tools: gpg makes
// the keys, skopeo signs and verifies, podman pulls under a signedBy policy, openssl and jq check
// the cosign tag scheme, @sigstore/verify the bundle; the sites are served by Debian's nginx.

let work: string
let home: string
let trusted: string
let other: string
let layout: string
const digests: Record<string, string> = {}
let nginx: RunningNginx
/** Site A: skopeo's signature carried from a staging tree. Site B: signed by ocisite (gpg and cosign). */
const sites = { a: { dir: '', host: '' }, b: { dir: '', host: '' } }

const env = (): NodeJS.ProcessEnv => ({ GNUPGHOME: home })

function genKey(uid: string): string {
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env: { ...process.env, ...env() }, stdio: 'ignore' })
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], { env: { ...process.env, ...env() }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
}

function tool(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env(), ...extraEnv }, encoding: 'utf8', cwd: work })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

/** A containers policy requiring a signature by `keyFile` for the site `host`; `signedPrefix` remaps the identity skopeo signed. */
async function policy(name: string, keyFile: string, host: string, signedPrefix?: string): Promise<string> {
  const file = path.join(work, `policy-${name}.json`)
  const signedIdentity = signedPrefix ? { signedIdentity: { type: 'remapIdentity', prefix: host, signedPrefix } } : {}
  const requirement = { type: 'signedBy', keyType: 'GPGKeys', keyPath: path.join(work, keyFile), ...signedIdentity }
  const doc = { default: [{ type: 'reject' }], transports: { docker: { [host]: [requirement] }, dir: { '': [{ type: 'insecureAcceptAnything' }] } } }
  await fs.writeFile(file, JSON.stringify(doc))
  return file
}

/** A registries.d naming the site's own /signatures/ as the lookaside of its host. */
async function registriesD(host: string): Promise<string> {
  const dir = path.join(work, `registries.d-${host.replace(/[^0-9a-z]/g, '_')}`)
  await fs.mkdir(dir, { recursive: true })
  await fs.writeFile(path.join(dir, 'site.yaml'), `docker:\n  ${host}:\n    lookaside: http://${host}/signatures\n`)
  return dir
}

async function skopeoCopy(host: string, ref: string, policyFile: string): Promise<{ status: number | null; out: string }> {
  const dest = await fs.mkdtemp(path.join(work, 'copy-'))
  return tool('skopeo', ['--policy', policyFile, '--registries.d', await registriesD(host), 'copy', '--src-tls-verify=false', `docker://${host}/${ref}`, `dir:${dest}`])
}

async function get(url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(url)
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
}

/** Every served file of a site (not ocisite's own records), with its bytes' digest. */
async function snapshot(dir: string): Promise<string> {
  return execFileSync('sh', ['-c', 'find . -path ./.ocisite -prune -o \\( -type f -o -type l \\) -print | sort | xargs sha256sum'], { cwd: dir, encoding: 'utf8' })
}

beforeAll(async () => {
  work = await tempDir('ocisite-sign-publish-')
  home = path.join(work, 'gnupg')
  await fs.mkdir(home, { mode: 0o700 })
  trusted = genKey('ocisite trusted <trusted@ocisite.invalid>')
  other = genKey('ocisite other <other@ocisite.invalid>')
  for (const [name, fpr] of [['trusted', trusted], ['other', other]] as const) await fs.writeFile(path.join(work, `${name}.gpg`), execFileSync('gpg', ['--batch', '--export', fpr], { env: { ...process.env, ...env() } }))
  execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', 'ec.pem'], { cwd: work })
  execFileSync('openssl', ['pkey', '-in', 'ec.pem', '-pubout', '-out', 'ec.pub'], { cwd: work })

  layout = path.join(work, 'app')
  const w = await OciLayout.create(layout)
  for (const tag of ['1.0', 'unsigned']) {
    const d = await image(w, 'amd64', `app ${tag}`)
    await w.addToIndex(d, tag)
    digests[tag] = d.digest
  }

  // skopeo signs 1.0 as the issue has it, and the test lays its signature out as a staging tree.
  const signedDir = path.join(work, 'signed')
  const signed = tool('skopeo', ['--insecure-policy', 'copy', '--sign-by', trusted, '--sign-identity', 'localhost/app:1.0', `oci:${layout}:1.0`, `dir:${signedDir}`])
  expect(signed.status, signed.out).toBe(0)
  const staging = path.join(work, 'staging', `app@sha256=${digests['1.0']!.slice(7)}`)
  await fs.mkdir(staging, { recursive: true })
  await fs.copyFile(path.join(signedDir, 'signature-1'), path.join(staging, 'signature-1'))

  const ports = { a: await freePort(), b: await freePort() }
  for (const k of ['a', 'b'] as const) sites[k] = { dir: path.join(work, `site-${k}`), host: `127.0.0.1:${ports[k]}` }
  const build = (k: 'a' | 'b', ...extra: string[]) =>
    installed(['build', layout, '--host', 'localhost', '--out', sites[k].dir, '--nginx', path.join(work, `${k}.conf`), '--listen', sites[k].host, ...extra], { env: env(), cwd: work })
  const a = await build('a', '--signatures', path.join(work, 'staging'))
  expect(a.code, a.stderr).toBe(0)
  const b = await build('b', '--base-url', `http://${sites.b.host}`, '--sign-by', trusted, '--sign-key', 'ec.pem')
  expect(b.code, b.stderr).toBe(0)
  nginx = await startNginx([path.join(work, 'a.conf'), path.join(work, 'b.conf')], [ports.a, ports.b])
}, 300_000)

afterAll(async () => {
  await nginx?.stop()
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, ...env() } })
  await fs.rm(work, { recursive: true, force: true })
})

describe("skopeo signs, the site serves its signature as a lookaside", () => {
  it("serves skopeo's signature-1 byte for byte at /signatures/, and nothing for the unsigned tag", async () => {
    const url = (tag: string, n = 1) => `http://${sites.a.host}/signatures/app@sha256=${digests[tag]!.slice(7)}/signature-${n}`
    const served = await get(url('1.0'))
    expect([served.status, served.type]).toEqual([200, 'application/octet-stream'])
    expect(served.bytes.equals(await fs.readFile(path.join(work, 'signed', 'signature-1')))).toBe(true)
    expect((await get(url('1.0', 2))).status).toBe(404)
    expect((await get(url('unsigned'))).status).toBe(404)
  })

  it('skopeo copy accepts the signed tag under signedBy, and refuses the unsigned tag and another key', async () => {
    const { host } = sites.a
    const ok = await skopeoCopy(host, 'app:1.0', await policy('a-trusted', 'trusted.gpg', host, 'localhost'))
    expect(ok.status, ok.out).toBe(0)
    const unsigned = await skopeoCopy(host, 'app:unsigned', await policy('a-trusted', 'trusted.gpg', host, 'localhost'))
    expect([unsigned.status, unsigned.out]).toEqual([1, expect.stringContaining('A signature was required, but no signature exists')])
    const otherKey = await skopeoCopy(host, 'app:1.0', await policy('a-other', 'other.gpg', host, 'localhost'))
    expect([otherKey.status, otherKey.out]).toEqual([1, expect.stringContaining('Invalid GPG signature')])
  })

  it('podman pull accepts the signed tag under signedBy, and refuses the unsigned tag and another key', async () => {
    const { host } = sites.a
    const podmanHome = path.join(work, 'podman-home')
    await fs.mkdir(path.join(podmanHome, '.config', 'containers'), { recursive: true })
    await fs.cp(await registriesD(host), path.join(podmanHome, '.config', 'containers', 'registries.d'), { recursive: true })
    const root = await fs.mkdtemp(path.join(work, 'podman-'))
    const pull = async (ref: string, policyFile: string) =>
      tool('podman', ['--storage-driver', 'vfs', '--root', path.join(root, 'root'), '--runroot', path.join(root, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', 'pull', '--tls-verify=false', '--signature-policy', policyFile, `${host}/${ref}`], { HOME: podmanHome })
    const ok = await pull('app:1.0', await policy('a-trusted', 'trusted.gpg', host, 'localhost'))
    expect(ok.status, ok.out).toBe(0)
    expect(ok.out).toContain('Writing manifest to image destination')
    const unsigned = await pull('app:unsigned', await policy('a-trusted', 'trusted.gpg', host, 'localhost'))
    expect([unsigned.status, unsigned.out]).toEqual([125, expect.stringContaining('A signature was required, but no signature exists')])
    const otherKey = await pull('app:1.0', await policy('a-other', 'other.gpg', host, 'localhost'))
    expect([otherKey.status, otherKey.out]).toEqual([125, expect.stringContaining('Invalid GPG signature')])
  })
})

describe('the lookaside beside nginx: serve, _headers and verify', () => {
  it('ocisite serve answers /signatures/ like nginx does', async () => {
    const server = await serveInstalled(sites.a.dir)
    try {
      const rel = `signatures/app@sha256=${digests['1.0']!.slice(7)}/signature-1`
      const served = await get(`${server.url.replace(/\/$/, '')}/${rel}`)
      expect([served.status, served.type]).toEqual([200, 'application/octet-stream'])
      expect(served.bytes.equals(await fs.readFile(path.join(sites.a.dir, rel)))).toBe(true)
      expect((await get(`${server.url.replace(/\/$/, '')}/signatures/app@sha256=${digests['unsigned']!.slice(7)}/signature-1`)).status).toBe(404)
    } finally {
      await server.stop()
    }
  })

  it('_headers names the lookaside with its Content-Type', async () => {
    const out = path.join(work, 'site-headers')
    const r = await installed(['build', layout, '--host', 'localhost', '--out', out, '--headers-file', '--no-v2', '--signatures', path.join(work, 'staging')], { cwd: work })
    expect(r.code, r.stderr).toBe(0)
    expect(await fs.readFile(path.join(out, '_headers'), 'utf8')).toContain('/signatures/*\n  Content-Type: application/octet-stream\n')
    expect((await fs.readdir(path.join(out, 'signatures'))).sort()).toEqual([`app@sha256=${digests['1.0']!.slice(7)}`])
  })

  it('deploy puts the lookaside into the bucket under signatures/, as application/octet-stream', async () => {
    const port = await freePort()
    const website = path.join(work, 'website.xml')
    await fs.writeFile(website, '<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>')
    const repo = path.resolve(import.meta.dirname, '..')
    const s3 = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/helpers/s3rver-main.ts'), path.join(work, 's3'), String(port), website, 'signed'], { cwd: repo, stdio: 'ignore' })
    try {
      await waitForPort(port, 20_000)
      const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1' }
      const r = await installed(['deploy', sites.a.dir, 's3://signed', '--endpoint', `http://127.0.0.1:${port}`, '--path-style'], { env: creds })
      expect(r.code, r.stderr).toBe(0)
      const key = `signatures/app@sha256=${digests['1.0']!.slice(7)}/signature-1`
      const head = tool('/usr/bin/aws', ['s3api', 'head-object', '--endpoint-url', `http://127.0.0.1:${port}`, '--bucket', 'signed', '--key', key], creds)
      expect(head.status, head.out).toBe(0)
      expect(JSON.parse(head.out)).toMatchObject({ ContentType: 'application/octet-stream', CacheControl: 'public, max-age=60' })
      const served = await get(`http://127.0.0.1:${port}/signed/${key}`)
      expect(served.bytes.equals(await fs.readFile(path.join(sites.a.dir, key)))).toBe(true)
    } finally {
      await stopChild(s3, 'SIGTERM')
    }
  })

  it('verify checks the served signatures, and names one that is no OpenPGP message', async () => {
    const ok = await installed(['verify', `http://${sites.b.host}`])
    expect([ok.code, ok.stdout]).toEqual([0, expect.stringMatching(/^ok: /)])
    const copy = path.join(work, 'site-broken')
    await fs.cp(sites.b.dir, copy, { recursive: true })
    const rel = `signatures/app@sha256=${digests['1.0']!.slice(7)}/signature-1`
    await fs.writeFile(path.join(copy, rel), 'not a signature')
    const bad = await installed(['verify', copy])
    expect(bad.code).toBe(5)
    expect(bad.stdout).toContain(`lookaside  /${rel}`)
    expect(bad.stdout).toContain(`signature-1 of app@${digests['1.0']}: not an OpenPGP message`)
  })
})

describe('ocisite signs with gpg, skopeo verifies', () => {
  it('skopeo copy accepts every tag of a site built with --sign-by under signedBy (the default identity), and refuses another key', async () => {
    const { host } = sites.b
    for (const tag of ['1.0', 'unsigned']) {
      const ok = await skopeoCopy(host, `app:${tag}`, await policy('b-trusted', 'trusted.gpg', host))
      expect(ok.status, ok.out).toBe(0)
    }
    const otherKey = await skopeoCopy(host, 'app:1.0', await policy('b-other', 'other.gpg', host))
    expect([otherKey.status, otherKey.out]).toEqual([1, expect.stringContaining('Invalid GPG signature')])
  })
})

describe('cosign signatures made by --sign-key, checked independently', () => {
  const v2 = (rest: string) => `http://${sites.b.host}/v2/app/${rest}`
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'
  const json = async (url: string) => JSON.parse((await (await fetch(url, { headers: { Accept: accept } })).text()))

  it('the .sig manifest read over /v2/ verifies with openssl dgst, and jq reads its digest and identity', async () => {
    const digest = digests['1.0']!
    const sig = await json(v2(`manifests/sha256-${digest.slice(7)}.sig`))
    expect(sig.layers).toHaveLength(1)
    const layer = sig.layers[0]
    await fs.writeFile(path.join(work, 'payload'), (await get(v2(`blobs/${layer.digest}`))).bytes)
    await fs.writeFile(path.join(work, 'payload.sig'), Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'], 'base64'))
    expect(tool('openssl', ['dgst', '-sha256', '-verify', 'ec.pub', '-signature', 'payload.sig', 'payload'])).toEqual({ status: 0, out: 'Verified OK\n' })
    const claims = tool('jq', ['-r', '.critical.image["docker-manifest-digest"], .critical.identity["docker-reference"]', 'payload'])
    expect(claims.out.trim().split('\n')).toEqual([digest, `${sites.b.host}/app`])
  })

  it('the bundle is a referrer, also under the sha256-<hex> fallback tag, and @sigstore/verify verifies it with the public key', async () => {
    const digest = digests['unsigned']!
    const referrers = await json(v2(`referrers/${digest}`))
    expect(await json(v2(`manifests/sha256-${digest.slice(7)}`))).toEqual(referrers)
    const [entry] = referrers.manifests
    expect(entry.artifactType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json')
    const manifest = await json(v2(`manifests/${entry.digest}`))
    expect(manifest.subject.digest).toBe(digest)
    const bundle = JSON.parse((await get(v2(`blobs/${manifest.layers[0].digest}`))).bytes.toString())
    const { createPublicKey } = await import('node:crypto')
    const publicKey = createPublicKey(await fs.readFile(path.join(work, 'ec.pub')))
    const verifier = new Verifier(
      { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey, validFor: () => true }) },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    )
    expect(verifier.verify(toSignedEntity(bundleFromJSON(bundle))).key.asymmetricKeyType).toBe('ec')
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString())
    expect([statement.subject[0].digest.sha256, statement.predicateType]).toEqual([digest.slice(7), 'https://sigstore.dev/cosign/sign/v1'])
  })
})

describe('signing again', () => {
  it('a rebuild with the same keys (and one with none) leaves the site byte-identical', async () => {
    const before = await snapshot(sites.b.dir)
    const args = ['build', layout, '--host', 'localhost', '--out', sites.b.dir, '--base-url', `http://${sites.b.host}`]
    const again = await installed([...args, '--sign-by', trusted, '--sign-key', 'ec.pem'], { env: env(), cwd: work })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain(' 0 documents written')
    expect(await snapshot(sites.b.dir)).toBe(before)
    const plain = await installed(args, { env: env(), cwd: work })
    expect(plain.code, plain.stderr).toBe(0)
    expect(await snapshot(sites.b.dir)).toBe(before)
  })

  it('ocisite sign adds a signature by another key to a published tag, which skopeo then accepts; signing again changes nothing', async () => {
    const { host, dir } = sites.a
    const signed = await installed(['sign', 'app#1.0', '--site', dir, '--sign-by', other, '--sign-key', 'ec.pem'], { env: env(), cwd: work })
    expect(signed.code, signed.stderr).toBe(0)
    // Site A's host is localhost: ocisite signs localhost/app:1.0, as skopeo did.
    const ok = await skopeoCopy(host, 'app:1.0', await policy('a-other', 'other.gpg', host, 'localhost'))
    expect(ok.status, ok.out).toBe(0)
    // skopeo's own signature is still signature-1; ours is signature-2.
    expect((await get(`http://${host}/signatures/app@sha256=${digests['1.0']!.slice(7)}/signature-2`)).status).toBe(200)
    expect((await get(`http://${host}/v2/app/manifests/sha256-${digests['1.0']!.slice(7)}.sig`)).status).toBe(200)
    expect((await get(`http://${host}/v2/app/manifests/sha256-${digests['unsigned']!.slice(7)}.sig`)).status).toBe(404)
    const before = await snapshot(dir)
    const again = await installed(['sign', 'app#1.0', '--site', dir, '--sign-by', other, '--sign-key', 'ec.pem'], { env: env(), cwd: work })
    expect(again.code, again.stderr).toBe(0)
    expect(await snapshot(dir)).toBe(before)
  })
})

describe('add signs what it publishes', () => {
  it('add --sign-by --sign-key signs the added image in both families, and leaves the other images as they were', async () => {
    const { dir, host } = sites.a
    const w = await OciLayout.create(path.join(work, 'tool'))
    const tool2 = await image(w, 'amd64', 'tool 2.0')
    await w.addToIndex(tool2, '2.0')
    const files = () => execFileSync('sh', ['-c', 'find v2/app oci-index/app signatures/app@* -type f | sort | xargs sha256sum'], { cwd: dir, encoding: 'utf8' })
    const appBefore = files()
    const r = await installed(['add', path.join(work, 'tool'), '--path', 'team/tool', '--site', dir, '--sign-by', trusted, '--sign-key', 'ec.pem'], { env: env(), cwd: work })
    expect(r.code, r.stderr).toBe(0)
    expect(files()).toBe(appBefore)
    const ok = await skopeoCopy(host, 'team/tool:2.0', await policy('a-trusted', 'trusted.gpg', host, 'localhost'))
    expect(ok.status, ok.out).toBe(0)
    expect((await get(`http://${host}/v2/team/tool/manifests/sha256-${tool2.digest.slice(7)}.sig`)).status).toBe(200)
    const referrers = JSON.parse((await get(`http://${host}/v2/team/tool/referrers/${tool2.digest}`)).bytes.toString())
    expect(referrers.manifests.map((m: { artifactType: string }) => m.artifactType)).toEqual(['application/vnd.dev.sigstore.bundle.v0.3+json'])
  })
})

describe('a second cosign key', () => {
  it('ocisite sign with a second key appends its signature to the .sig manifest the site serves, keeping the first byte for byte', async () => {
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', 'ed.pem'], { cwd: work })
    execFileSync('openssl', ['pkey', '-in', 'ed.pem', '-pubout', '-out', 'ed.pub'], { cwd: work })
    const { dir, host } = sites.b
    const tag = `sha256-${digests['1.0']!.slice(7)}.sig`
    const accept = { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } }
    type Sig = { layers: Array<{ digest: string; annotations: Record<string, string> }> }
    const before = (await (await fetch(`http://${host}/v2/app/manifests/${tag}`, accept)).json()) as Sig
    const r = await installed(['sign', 'app#1.0', '--site', dir, '--sign-key', 'ed.pem', '--sign-format', 'tag'], { cwd: work })
    expect(r.code, r.stderr).toBe(0)
    const after = (await (await fetch(`http://${host}/v2/app/manifests/${tag}`, accept)).json()) as Sig
    expect(after.layers).toHaveLength(2)
    expect(after.layers[0]).toEqual(before.layers[0])
    const layer = after.layers[1]!
    await fs.writeFile(path.join(work, 'ed.payload'), (await get(`http://${host}/v2/app/blobs/${layer.digest}`)).bytes)
    await fs.writeFile(path.join(work, 'ed.sig'), Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64'))
    expect(tool('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'ed.pub', '-rawin', '-in', 'ed.payload', '-sigfile', 'ed.sig']).status).toBe(0)
  })
})

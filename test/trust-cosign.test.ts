// Verify on consume, cosign's schemes: a site built (installed CLI) from layouts carrying cosign
// signatures made by src/sign from openssl-made keys, served by Debian's nginx, consumed with
// --policy: doco-cd's trust policy and containers' policy.json (sigstoreSigned). Every refusal
// exits 6 with one line naming the name, digest and reason, and leaves DEST or DIR unwritten.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import path from 'node:path'
import { bundleFromJSON } from '@sigstore/bundle'
import { Verifier, toSignedEntity } from '@sigstore/verify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import type { Descriptor } from '../src/oci/descriptor.js'
import { COSIGN_SIGNATURE_ANNOTATION, signTagLayer } from '../src/sign/cosign-tag.js'
import { loadSigningKey, parsePublicKey } from '../src/sign/keys.js'
import { image } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { addBundle, addTagSignature, docoCdPolicy, opensslKey } from './helpers/signing.js'

let user: string
let port: number
let nginx: RunningNginx
const digests: Record<string, string> = {}
const env = () => ({ XDG_CACHE_HOME: path.join(user, '.cache'), XDG_CONFIG_HOME: path.join(user, '.config'), CONTAINERS_REGISTRIES_D: path.join(user, 'no-registries.d'), SOURCE_DATE_EPOCH: '1700000000' })
const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => installed(args, { cwd: user, env: { ...env(), ...extraEnv } })
const http = () => ['--protocol', 'http', '--port', String(port)]

async function ok(args: string[]) {
  const r = await run(args)
  expect(r.code, `ocisite ${args.join(' ')}\n${r.stderr}`).toBe(0)
  return r
}

/** A refusal as the CLI prints it: one line on stderr, exit 6. */
function expectRefused(r: { code: number; stdout: string; stderr: string }, name: string, digest: string, reason: string): void {
  expect(r.code, r.stderr).toBe(6)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(new RegExp(`^ocisite: error\\[SIGNATURE_REFUSED\\]: ${name.replace(/[.#]/g, '\\$&')}: ${digest}: refused by [^:]+: ${reason} \\(.*\\)\\n$`))
}

async function signedLayouts(): Promise<void> {
  const key = await loadSigningKey(await fs.readFile(path.join(user, 'trusted.pem')), 'trusted.pem')
  const app = await OciLayout.create(path.join(user, 'layouts', 'app'))
  const [one, two, three] = [await image(app, 'amd64', 'one'), await image(app, 'amd64', 'two'), await image(app, 'amd64', 'three')]
  for (const [tag, d] of [['1.0', one], ['2.0', two], ['3.0', three]] as const) {
    await app.addToIndex(d, tag)
    digests[`app#${tag}`] = d.digest
  }
  await addTagSignature(app, one.digest, [signTagLayer(key, one.digest, `localhost:${port}/app`)])
  await addBundle(app, key, two)

  // One character of the base64 signature annotation changed.
  const tampered = await OciLayout.create(path.join(user, 'layouts', 'tampered'))
  const t = await tampered.addToIndex(await image(tampered, 'amd64', 'tampered'), '1.0')
  const layer = signTagLayer(key, t.digest, 'localhost/tampered')
  const changed = layer.signature.replace(/^(.{10})(.)/, (_m, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'))
  await addTagSignature(tampered, t.digest, [{ ...layer, signature: changed }])
  digests['tampered#1.0'] = t.digest

  // 2.0's valid signature, moved onto 1.0's `.sig` tag.
  const moved = await OciLayout.create(path.join(user, 'layouts', 'moved'))
  const [a, b] = [await image(moved, 'amd64', 'moved a'), await image(moved, 'amd64', 'moved b')]
  await moved.addToIndex(a, '1.0')
  await moved.addToIndex(b, '2.0')
  const bLayer = signTagLayer(key, b.digest, 'localhost/moved')
  await addTagSignature(moved, b.digest, [bLayer])
  await addTagSignature(moved, a.digest, [bLayer])
  digests['moved#1.0'] = a.digest
}

/** A doco artifact packed by the installed CLI: v3 signed (tag scheme), v4 not. */
async function docoLayout(): Promise<void> {
  await fs.mkdir(path.join(user, 'deploy'))
  await fs.writeFile(path.join(user, 'deploy', '.doco-cd.yaml'), 'name: web\n')
  digests['deploy#v3'] = JSON.parse((await ok(['pack', 'deploy', '--preset', 'doco', '--out', 'layouts/deploy', '--tag', 'v3', '--json'])).stdout).digest
  await fs.writeFile(path.join(user, 'deploy', '.doco-cd.yaml'), 'name: web\nreference: v4\n')
  digests['deploy#v4'] = JSON.parse((await ok(['pack', 'deploy', '--preset', 'doco', '--out', 'layouts/deploy', '--tag', 'v4', '--json'])).stdout).digest
  const key = await loadSigningKey(await fs.readFile(path.join(user, 'trusted.pem')), 'trusted.pem')
  const w = await OciLayout.create(path.join(user, 'layouts', 'deploy'))
  await addTagSignature(w, digests['deploy#v3']!, [signTagLayer(key, digests['deploy#v3']!, 'localhost/deploy')])
}

beforeAll(async () => {
  user = await outsideDir()
  port = await freePort()
  opensslKey(user, 'trusted')
  opensslKey(user, 'other')
  await signedLayouts()
  await docoLayout()
  await docoCdPolicy(path.join(user, 'trust.yaml'), [path.join(user, 'trusted.pub')])
  await docoCdPolicy(path.join(user, 'other.yaml'), [path.join(user, 'other.pub')])
  const sigstore = (key: string) => [{ type: 'sigstoreSigned', keyPath: path.join(user, key), signedIdentity: { type: 'matchRepository' } }]
  // The scope and identity name the port, as podman pulling localhost:PORT/app names them.
  await fs.writeFile(path.join(user, 'policy.json'), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [`localhost:${port}`]: sigstore('trusted.pub') } } }))
  await ok(['build', 'layouts', '--host', 'localhost', '--out', 'public', '--nginx', 'site.conf', '--listen', `127.0.0.1:${port}`])
  nginx = await startNginx([path.join(user, 'site.conf')], port)
}, 300_000)

afterAll(async () => {
  await nginx?.stop()
  await fs.rm(user, { recursive: true, force: true })
})

async function v2(urlPath: string): Promise<Buffer> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`)
  expect(res.status, urlPath).toBe(200)
  return Buffer.from(await res.arrayBuffer())
}

describe('the cosign tag scheme, through the site', () => {
  it('openssl verifies the .sig layer read over /v2/, and jq reads its digest and identity', async () => {
    const sig = JSON.parse((await v2(`/v2/app/manifests/sha256-${digests['app#1.0']!.slice(7)}.sig`)).toString())
    const layer = sig.layers[0]
    await fs.writeFile(path.join(user, 'payload'), await v2(`/v2/app/blobs/${layer.digest}`))
    await fs.writeFile(path.join(user, 'payload.sig'), Buffer.from(layer.annotations[COSIGN_SIGNATURE_ANNOTATION], 'base64'))
    expect(spawnSync('openssl', ['dgst', '-sha256', '-verify', 'trusted.pub', '-signature', 'payload.sig', 'payload'], { cwd: user }).status).toBe(0)
    expect(spawnSync('openssl', ['dgst', '-sha256', '-verify', 'other.pub', '-signature', 'payload.sig', 'payload'], { cwd: user }).status).not.toBe(0)
    const claims = execFileSync('jq', ['-r', '.critical.image["docker-manifest-digest"], .critical.identity["docker-reference"]', 'payload'], { cwd: user, encoding: 'utf8' })
    expect(claims).toBe(`${digests['app#1.0']}\nlocalhost:${port}/app\n`)
  })

  it('pull --policy with a doco-cd trust policy holding the key accepts, and says so with --verbose', async () => {
    const r = await ok(['pull', 'localhost/app#1.0', 'ok-layout', '--policy', 'trust.yaml', '--verbose', ...http()])
    expect(r.stdout).toContain(`localhost/app#1.0 → ${digests['app#1.0']}`)
    expect(r.stderr).toContain(`ocisite: localhost/app#1.0: ${digests['app#1.0']}: accepted by trust.yaml [doco-cd trust policy]: signed by trust.yaml: public_keys[0] (localhost/app#sha256-`)
    expect(JSON.parse(await fs.readFile(path.join(user, 'ok-layout', 'index.json'), 'utf8')).manifests.map((m: Descriptor) => m.digest)).toContain(digests['app#1.0'])
  })

  it.each([
    ['the policy holds another key', 'app#1.0', 'other.yaml', 'bad signature'],
    ['one character of the signature annotation is changed', 'tampered#1.0', 'trust.yaml', 'bad signature'],
    ["another digest's signature is moved onto the tag", 'moved#1.0', 'trust.yaml', 'digest mismatch'],
    ['the tag has no signature', 'app#3.0', 'trust.yaml', 'no signature'],
  ])('pull refuses when %s: exit 6, one line, nothing written', async (_case, name, policy, reason) => {
    const dest = path.join(user, `refused-${name.replace('#', '-')}`)
    const r = await run(['pull', `localhost/${name}`, dest, '--policy', policy, ...http()])
    expectRefused(r, `localhost/${name}`, digests[name]!, reason)
    expect(existsSync(dest)).toBe(false)
  })
})

describe('the cosign bundle, through the site', () => {
  it('@sigstore/verify verifies the bundle the site serves with the public key', async () => {
    const list = JSON.parse((await v2(`/v2/app/referrers/${digests['app#2.0']}`)).toString()).manifests
    const referrer = JSON.parse((await v2(`/v2/app/manifests/${list[0].digest}`)).toString())
    const bundle = JSON.parse((await v2(`/v2/app/blobs/${referrer.layers[0].digest}`)).toString())
    const pub = parsePublicKey(await fs.readFile(path.join(user, 'trusted.pub')), 'trusted.pub')
    const verifier = new Verifier(
      { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: pub.key, validFor: () => true }) },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    )
    expect(verifier.verify(toSignedEntity(bundleFromJSON(bundle))).key.asymmetricKeyType).toBe('ec')
  })

  it.each(['trust.yaml', 'policy.json'])('pull --policy %s accepts the bundle found through the referrers API', async (policy) => {
    const r = await ok(['pull', 'localhost/app#2.0', `bundle-${policy}`, '--policy', policy, '--verbose', ...http()])
    expect(r.stderr).toContain(`ocisite: GET http://localhost:${port}/v2/app/referrers/${digests['app#2.0']}: ok\n`)
    expect(r.stderr).toMatch(/accepted by .*: signed by .* \(referrer sha256:[0-9a-f]{64} layer 0\)/)
  })

  it('pull refuses the bundle under a policy with another key (unknown key, named by its hint)', async () => {
    const r = await run(['pull', 'localhost/app#2.0', 'bundle-other', '--policy', 'other.yaml', ...http()])
    expectRefused(r, 'localhost/app#2.0', digests['app#2.0']!, 'unknown key')
    expect(existsSync(path.join(user, 'bundle-other'))).toBe(false)
  })

  it('without the referrers API (a proxy in front answers 404 there), the sha256-<hex> fallback tag is read instead', async () => {
    const front = await freePort()
    await fs.writeFile(
      path.join(user, 'front.conf'),
      `server {\n  listen 127.0.0.1:${front};\n  location ~ "^/v2/.+/referrers/" { return 404; }\n  location / { proxy_pass http://127.0.0.1:${port}; }\n}\n`,
    )
    const proxy = await startNginx([path.join(user, 'front.conf')], front)
    try {
      expect((await fetch(`http://127.0.0.1:${front}/v2/app/referrers/${digests['app#2.0']}`)).status).toBe(404)
      const r = await ok(['pull', 'localhost/app#2.0', 'bundle-fallback', '--policy', 'trust.yaml', '--verbose', '--protocol', 'http', '--port', String(front)])
      expect(r.stderr).toContain(`ocisite: GET http://localhost:${front}/v2/app/referrers/${digests['app#2.0']}: failed: GET http://localhost:${front}/v2/app/referrers/${digests['app#2.0']}: 404 Not Found\n`)
      expect(r.stderr).toContain(`ocisite: GET http://localhost:${front}/v2/app/manifests/sha256-${digests['app#2.0']!.slice(7)}: ok\n`)
      expect(r.stderr).toMatch(/accepted by trust\.yaml \[doco-cd trust policy\]: signed by .* \(referrer sha256:[0-9a-f]{64} layer 0\)/)
    } finally {
      await proxy.stop()
    }
  })
})

describe('get, resolve and lock under a policy', () => {
  it('get --policy accepts a signed doco artifact and writes its files', async () => {
    const r = await ok(['get', 'localhost/deploy#v3', 'deploy-v3', '--policy', 'trust.yaml', ...http()])
    expect(r.stdout).toContain(`localhost/deploy#v3 → ${digests['deploy#v3']}`)
    expect(await fs.readFile(path.join(user, 'deploy-v3', '.doco-cd.yaml'), 'utf8')).toBe('name: web\n')
  })

  it('get --policy refuses an unsigned doco artifact before anything is written to DIR (or the cache)', async () => {
    const cacheBefore = await fs.readFile(path.join(user, '.cache', 'ocisite', 'layout', 'index.json'), 'utf8')
    const r = await run(['get', 'localhost/deploy#v4', 'deploy-v4', '--policy', 'trust.yaml', ...http()])
    expectRefused(r, 'localhost/deploy#v4', digests['deploy#v4']!, 'no signature')
    expect(existsSync(path.join(user, 'deploy-v4'))).toBe(false)
    expect(await fs.readFile(path.join(user, '.cache', 'ocisite', 'layout', 'index.json'), 'utf8')).toBe(cacheBefore)
  })

  it('resolve --policy prints an accepted name, and exits 6 for a refused one', async () => {
    expect((await ok(['resolve', 'localhost/app#1.0', '--policy', 'trust.yaml', '--json', ...http()])).stdout).toContain(digests['app#1.0'])
    const r = await run(['resolve', 'localhost/app#3.0', '--policy', 'trust.yaml', ...http()])
    expect(r.code).toBe(6)
    expect(r.stderr).toContain(`ocisite: error[SIGNATURE_REFUSED]: localhost/app#3.0: ${digests['app#3.0']}: refused by trust.yaml: no signature`)
  })

  it('lock --policy pins only accepted digests: a refusal leaves no lock file', async () => {
    const refused = await run(['lock', 'localhost/app#3.0', '--out', 'refused.lock', '--policy', 'trust.yaml', ...http()])
    expectRefused(refused, 'localhost/app#3.0', digests['app#3.0']!, 'no signature')
    expect(existsSync(path.join(user, 'refused.lock'))).toBe(false)
    await ok(['lock', 'localhost/app#1.0', '--out', 'ok.lock', '--policy', 'trust.yaml', ...http()])
    expect(JSON.parse(await fs.readFile(path.join(user, 'ok.lock'), 'utf8')).pins[0].digest).toBe(digests['app#1.0'])
  })

  it.each([
    [['--policy', 'missing.yaml'], 'POLICY_INVALID', 'missing.yaml: cannot read the policy (ENOENT)'],
    [['--policy', 'trust.yaml', '--registries-d', 'missing.d'], 'POLICY_INVALID', '--registries-d missing.d: not a directory'],
    [['--policy', 'site.conf'], 'POLICY_INVALID', 'site.conf: '],
  ])('a bad %j exits 2 with one line naming the file, before anything is fetched', async (flags, code, message) => {
    const r = await run(['pull', 'localhost/app#1.0', 'bad-input', ...flags, ...http()])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`^ocisite: error\\[${code}\\]: ${message.replace(/[.()[\]]/g, '\\$&')}.*\n$`))
    expect(existsSync(path.join(user, 'bad-input'))).toBe(false)
  })

  it('$XDG_CONFIG_HOME/ocisite/policy.json applies without --policy, when it exists', async () => {
    await fs.mkdir(path.join(user, '.config', 'ocisite'), { recursive: true })
    await fs.copyFile(path.join(user, 'policy.json'), path.join(user, '.config', 'ocisite', 'policy.json'))
    try {
      const r = await run(['pull', 'localhost/app#3.0', 'default-refused', ...http()])
      expectRefused(r, 'localhost/app#3.0', digests['app#3.0']!, 'no signature')
      await ok(['pull', 'localhost/app#1.0', 'default-ok', ...http()])
    } finally {
      await fs.rm(path.join(user, '.config', 'ocisite'), { recursive: true })
    }
  })
})

// Verify on consume, containers signatures (the issue's acceptance 1, in one place): skopeo
// signs with a gpg key (`copy --sign-by --sign-identity localhost/app:1.0`), the test lays the
// signature out as a lookaside staging tree, the installed ocisite builds the site with
// --signatures, and Debian's nginx serves it with the generated config alone, so the lookaside is
// the site's own /signatures/. skopeo, podman and the installed ocisite are then run with the
// same policy.json and registries.d, and agree on all three cases; ocisite writes nothing when
// it refuses.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { digestOf } from '../src/oci/digest.js'
import { lookasidePath } from '../src/sign/lookaside.js'
import { image, tempDir } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { snapshot } from './helpers/tree.js'

let user: string
let home: string // GNUPGHOME
let podmanDir: string
let port: number // the site, served by nginx with the config ocisite generated
let nginx: RunningNginx
const digests: Record<string, string> = {}
const noRegistriesD = () => path.join(user, 'empty-registries.d')
const env = () => ({ XDG_CACHE_HOME: path.join(user, '.cache'), XDG_CONFIG_HOME: path.join(user, '.config'), CONTAINERS_REGISTRIES_D: noRegistriesD(), GNUPGHOME: home })

function tool(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env(), ...extra }, encoding: 'utf8', timeout: 120_000 })
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
}

function genKey(uid: string): string {
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' })
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], { env: { ...process.env, GNUPGHOME: home }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
}

/** signedBy the key in `keyFile` for the site's host; skopeo signed `localhost/app`, which remapIdentity maps the pulled name onto. */
async function writePolicy(name: string, keyFile: string): Promise<void> {
  const host = `localhost:${port}`
  const requirement = { type: 'signedBy', keyType: 'GPGKeys', keyPath: path.join(user, keyFile), signedIdentity: { type: 'remapIdentity', prefix: host, signedPrefix: 'localhost' } }
  await fs.writeFile(path.join(user, name), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host]: [requirement] } } }))
}

beforeAll(async () => {
  user = await outsideDir()
  home = path.join(user, 'gnupg')
  await fs.mkdir(home, { mode: 0o700 })
  podmanDir = await tempDir('ocisite-podman-')
  port = await freePort()
  const trusted = genKey('ocisite trusted <trusted@ocisite.invalid>')
  const other = genKey('ocisite other <other@ocisite.invalid>')
  for (const [fpr, file] of [[trusted, 'trusted.gpg'], [other, 'other.gpg']] as const) {
    await fs.writeFile(path.join(user, file), execFileSync('gpg', ['--batch', '--export', fpr], { env: { ...process.env, GNUPGHOME: home } }))
  }

  const app = await OciLayout.create(path.join(user, 'layouts', 'app'))
  for (const [tag, text] of [['1.0', 'signed'], ['2.0', 'unsigned']] as const) digests[tag] = (await app.addToIndex(await image(app, 'amd64', text), tag)).digest

  // skopeo signs 1.0 as the issue has it, and the test lays its signature out as a staging tree.
  const signed = tool('skopeo', ['--insecure-policy', 'copy', '--sign-by', trusted, '--sign-identity', 'localhost/app:1.0', `oci:${path.join(user, 'layouts', 'app')}:1.0`, `dir:${path.join(user, 'signed')}`])
  expect(signed.ok, signed.out).toBe(true)
  expect(digestOf(await fs.readFile(path.join(user, 'signed', 'manifest.json')))).toBe(digests['1.0'])
  const rel = lookasidePath({ repository: 'app', digest: digests['1.0']!, index: 1 })
  await fs.mkdir(path.dirname(path.join(user, 'staging', rel)), { recursive: true })
  await fs.copyFile(path.join(user, 'signed', 'signature-1'), path.join(user, 'staging', rel))

  await writePolicy('policy.json', 'trusted.gpg')
  await writePolicy('other-policy.json', 'other.gpg')
  await fs.mkdir(path.join(user, 'registries.d'))
  await fs.writeFile(path.join(user, 'registries.d', 'site.yaml'), `docker:\n  localhost:${port}:\n    lookaside: http://localhost:${port}/signatures\n`)
  await fs.mkdir(noRegistriesD())
  // podman reads registries.d from ~/.config/containers/registries.d (it has no flag for it).
  await fs.mkdir(path.join(podmanDir, '.config', 'containers'), { recursive: true })
  await fs.cp(path.join(user, 'registries.d'), path.join(podmanDir, '.config', 'containers', 'registries.d'), { recursive: true })

  const built = await installed(['build', 'layouts', '--host', 'localhost', '--out', 'public', '--nginx', 'site.conf', '--listen', `127.0.0.1:${port}`, '--signatures', 'staging'], { cwd: user, env: env() })
  expect(built.code, built.stderr).toBe(0)
  expect((await fs.readFile(path.join(user, 'public', 'signatures', rel))).equals(await fs.readFile(path.join(user, 'signed', 'signature-1')))).toBe(true)
  nginx = await startNginx([path.join(user, 'site.conf')], port)
}, 300_000)

afterAll(async () => {
  await nginx?.stop()
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } })
  await fs.rm(podmanDir, { recursive: true, force: true })
  await fs.rm(user, { recursive: true, force: true })
})

const podman = (...args: string[]) =>
  tool('podman', ['--storage-driver', 'vfs', '--root', path.join(podmanDir, 'root'), '--runroot', path.join(podmanDir, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...args], { HOME: podmanDir })

describe('skopeo signs; skopeo, podman and ocisite verify through the site with one policy.json', () => {
  it.each([
    ['the signed tag under its key', '1.0', 'policy.json', undefined, undefined],
    ['a tag with no signature', '2.0', 'policy.json', 'no signature', 'A signature was required, but no signature exists'],
    ['the signed tag under a policy with another key', '1.0', 'other-policy.json', 'unknown key', 'Invalid GPG signature'],
  ])('%s: all three agree', async (_case, tag, policy, reason, theirs) => {
    const ref = `localhost:${port}/app:${tag}`
    const policyFile = path.join(user, policy)
    const copy = tool('skopeo', ['--policy', policyFile, '--registries.d', path.join(user, 'registries.d'), 'copy', '--remove-signatures', '--src-tls-verify=false', `docker://${ref}`, `oci:${path.join(user, `skopeo-${tag}-${policy}`)}:${tag}`])
    const pulled = podman('pull', '--tls-verify=false', '--signature-policy', policyFile, ref)
    expect([copy.ok, pulled.ok], `${copy.out}\n${pulled.out}`).toEqual([reason === undefined, reason === undefined])
    if (theirs !== undefined) for (const out of [copy.out, pulled.out]) expect(out).toContain(theirs)
    // ocisite with the same registries.d, and with none (the site's own /signatures/ by default).
    const cacheBefore = await snapshot(path.join(user, '.cache'))
    for (const registries of [['--registries-d', path.join(user, 'registries.d')], []]) {
      const dest = path.join(user, `ocisite-${tag}-${policy}-${registries.length}`)
      const ours = await installed(['pull', `localhost/app#${tag}`, dest, '--policy', policyFile, ...registries, '--protocol', 'http', '--port', String(port)], { cwd: user, env: env() })
      if (reason === undefined) {
        expect(ours.code, ours.stderr).toBe(0)
        expect(JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8')).manifests[0].digest).toBe(digests[tag])
      } else {
        expect(ours.code, ours.stderr).toBe(6)
        expect(ours.stdout).toBe('')
        expect(ours.stderr).toMatch(new RegExp(`^ocisite: error\\[SIGNATURE_REFUSED\\]: localhost/app#${tag.replace('.', '\\.')}: ${digests[tag]}: refused by ${policyFile}: ${reason} \\(.*\\)\\n$`))
        expect(existsSync(dest)).toBe(false)
      }
    }
    if (reason !== undefined) expect(await snapshot(path.join(user, '.cache'))).toEqual(cacheBefore)
  })

  it('--registries-d names the lookaside as registries.d does for podman; --verbose says which key signed', async () => {
    const r = await installed(['pull', 'localhost/app#1.0', 'with-registries-d', '--policy', 'policy.json', '--registries-d', 'registries.d', '--verbose', '--protocol', 'http', '--port', String(port)], { cwd: user, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const url = `http://localhost:${port}/signatures/app@sha256=${digests['1.0']!.slice(7)}`
    expect(r.stderr).toContain(`ocisite: GET ${url}/signature-1: ok\n`)
    expect(r.stderr).toContain(`ocisite: GET ${url}/signature-2: failed: 404 Not Found\n`)
    expect(r.stderr).toMatch(/accepted by policy\.json \[transports\.docker\["localhost:\d+"\]\]: signed by [0-9A-F]{40} \(http:/)
  })

  it('a lookaside elsewhere (registries.d) that lacks the signature is refused, whatever the site holds', async () => {
    await fs.mkdir(path.join(user, 'elsewhere.d'))
    await fs.writeFile(path.join(user, 'elsewhere.d', 'x.yaml'), `default-docker:\n  lookaside: file://${path.join(user, 'no-lookaside')}\n`)
    const r = await installed(['pull', 'localhost/app#1.0', 'elsewhere', '--policy', 'policy.json', '--registries-d', 'elsewhere.d', '--protocol', 'http', '--port', String(port)], { cwd: user, env: env() })
    expect(r.code).toBe(6)
    expect(r.stderr).toContain(': no signature (no containers signature in the lookaside)\n')
    expect(existsSync(path.join(user, 'elsewhere'))).toBe(false)
  })
})

// verify --policy: a site (built by the installed CLI) whose image has a tag signed in cosign's
// tag scheme, one signed by a bundle referrer, one unsigned and one signed by another key. verify
// lists exactly the unsigned and the badly signed tag, as a directory and over nginx's /v2/,
// under doco-cd's trust policy and containers' policy.json, worded as pull refuses them. A
// second site carries containers signatures skopeo made (one tag signed by the key, one unsigned,
// one signed by another key) in its own lookaside; verify checks them under signedBy.
import { execFileSync, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import type { Descriptor } from '../src/oci/descriptor.js'
import { signTagLayer } from '../src/sign/cosign-tag.js'
import { loadSigningKey } from '../src/sign/keys.js'
import { lookasidePath } from '../src/sign/lookaside.js'
import { image } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { addBundle, addTagSignature, docoCdPolicy, opensslKey } from './helpers/signing.js'

let user: string
let port: number
let gpgPort: number // the site whose lookaside holds skopeo's signatures
let nginx: RunningNginx
const digests: Record<string, string> = {}
const env = () => ({ XDG_CACHE_HOME: path.join(user, '.cache'), XDG_CONFIG_HOME: path.join(user, '.config'), CONTAINERS_REGISTRIES_D: path.join(user, 'no-registries.d') })
const run = (args: string[]) => installed(args, { cwd: user, env: env() })
const gnupg = () => ({ ...process.env, GNUPGHOME: path.join(user, 'gnupg') })

function genKey(uid: string): string {
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env: gnupg(), stdio: 'ignore' })
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], { env: gnupg(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
}

/** A second site: skopeo signs gpg 1.0 with the trusted key and gpg 3.0 with another, into a staging tree; gpg 2.0 is unsigned. */
async function gpgSite(): Promise<void> {
  await fs.mkdir(path.join(user, 'gnupg'), { mode: 0o700 })
  const trusted = genKey('ocisite trusted <trusted@ocisite.invalid>')
  const other = genKey('ocisite other <other@ocisite.invalid>')
  await fs.writeFile(path.join(user, 'trusted.gpg'), execFileSync('gpg', ['--batch', '--export', trusted], { env: gnupg() }))
  const layout = path.join(user, 'gpg-layouts', 'app')
  const w = await OciLayout.create(layout)
  for (const tag of ['1.0', '2.0', '3.0']) digests[`gpg ${tag}`] = (await w.addToIndex(await image(w, 'amd64', `gpg ${tag}`), tag)).digest
  for (const [tag, fpr] of [['1.0', trusted], ['3.0', other]] as const) {
    const copy = spawnSync('skopeo', ['--insecure-policy', 'copy', '--sign-by', fpr, '--sign-identity', `localhost/app:${tag}`, `oci:${layout}:${tag}`, `dir:${path.join(user, `signed-${tag}`)}`], { env: gnupg(), encoding: 'utf8' })
    expect(copy.status, copy.stderr).toBe(0)
    const rel = lookasidePath({ repository: 'app', digest: digests[`gpg ${tag}`]!, index: 1 })
    await fs.mkdir(path.dirname(path.join(user, 'staging', rel)), { recursive: true })
    await fs.copyFile(path.join(user, `signed-${tag}`, 'signature-1'), path.join(user, 'staging', rel))
  }
  // One policy for the site as a directory (host localhost) and over nginx (localhost:PORT, remapped to the identity skopeo signed).
  const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: path.join(user, 'trusted.gpg') }
  const remap = { signedIdentity: { type: 'remapIdentity', prefix: `localhost:${gpgPort}`, signedPrefix: 'localhost' } }
  await fs.writeFile(path.join(user, 'gpg-policy.json'), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { localhost: [signedBy], [`localhost:${gpgPort}`]: [{ ...signedBy, ...remap }] } } }))
  const built = await run(['build', 'gpg-layouts', '--host', 'localhost', '--out', 'public-gpg', '--nginx', 'gpg.conf', '--listen', `127.0.0.1:${gpgPort}`, '--signatures', 'staging'])
  expect(built.code, built.stderr).toBe(0)
}

beforeAll(async () => {
  user = await outsideDir()
  ;[port, gpgPort] = [await freePort(), await freePort()]
  await gpgSite()
  opensslKey(user, 'trusted')
  opensslKey(user, 'other')
  const trusted = await loadSigningKey(await fs.readFile(path.join(user, 'trusted.pem')), 'trusted.pem')
  const other = await loadSigningKey(await fs.readFile(path.join(user, 'other.pem')), 'other.pem')
  const app = await OciLayout.create(path.join(user, 'layouts', 'app'))
  const descriptors: Record<string, Descriptor> = {}
  for (const tag of ['1.0', '2.0', '3.0', '4.0']) {
    descriptors[tag] = await app.addToIndex(await image(app, 'amd64', `app ${tag}`), tag)
    digests[tag] = descriptors[tag].digest
  }
  await addTagSignature(app, digests['1.0']!, [signTagLayer(trusted, digests['1.0']!, `localhost:${port}/app`)])
  await addBundle(app, trusted, descriptors['4.0']!)
  await addTagSignature(app, digests['3.0']!, [signTagLayer(other, digests['3.0']!, `localhost:${port}/app`)])
  await docoCdPolicy(path.join(user, 'trust.yaml'), [path.join(user, 'trusted.pub')])
  const sigstore = [{ type: 'sigstoreSigned', keyPath: path.join(user, 'trusted.pub'), signedIdentity: { type: 'matchRepository' } }]
  await fs.writeFile(path.join(user, 'policy.json'), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [`localhost:${port}`]: sigstore } } }))
  const built = await run(['build', 'layouts', '--host', 'localhost', '--out', 'public', '--nginx', 'site.conf', '--listen', `127.0.0.1:${port}`])
  expect(built.code, built.stderr).toBe(0)
  nginx = await startNginx([path.join(user, 'site.conf'), path.join(user, 'gpg.conf')], [port, gpgPort])
}, 300_000)

afterAll(async () => {
  await nginx?.stop()
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: gnupg() })
  await fs.rm(user, { recursive: true, force: true })
})

describe('verify --policy', () => {
  it.each([
    ["a site directory, doco-cd's trust policy", 'public', 'trust.yaml', 'localhost'],
    ["the site over nginx, containers' policy.json", 'URL', 'policy.json', 'HOST:PORT'],
  ])('%s: exactly the unsigned and the badly signed tag, in the terminal and in --json', async (_case, target, policy, host) => {
    const site = target === 'URL' ? `http://localhost:${port}` : target
    const name = host === 'localhost' ? 'localhost/app' : `localhost:${port}/app`
    const file = path.join(user, policy)
    const text = await run(['verify', site, '--policy', file])
    expect(text.code, text.stderr).toBe(5)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines.slice(0, -1).map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      expect.stringMatching(/^unsigned \S+app\S*$/),
      `${name}#2.0: ${digests['2.0']}: refused by ${file}: no signature (no cosign signature (no .sig tag layer, no bundle referrer))`,
      expect.stringMatching(/^signature \S+app\S*$/),
      expect.stringMatching(new RegExp(`^${name.replace(/[.]/g, '\\.')}#3\\.0: ${digests['3.0']}: refused by ${file.replace(/[.]/g, '\\.')}: bad signature \\(.*\\)$`)),
    ])
    expect(lines.at(-1)).toMatch(new RegExp(`^2 problems: ${site}: 1 image, .*; 2 signed as ${file.replace(/[.]/g, '\\.')} requires$`))

    const json = await run(['verify', site, '--policy', file, '--json'])
    expect(json.code, json.stderr).toBe(5)
    const result = JSON.parse(json.stdout)
    expect(result.policy).toBe(file)
    expect(result.checked.signed).toBe(2)
    expect(result.problems.map((p: Record<string, unknown>) => [p.kind, p.name, p.digest, p.reason])).toEqual([
      ['unsigned', `${name}#2.0`, digests['2.0'], 'no signature'],
      ['signature', `${name}#3.0`, digests['3.0'], 'bad signature'],
    ])
  })

  it.each([
    ['a site directory', 'public-gpg', 'localhost'],
    ['the site over nginx', 'URL', 'HOST:PORT'],
  ])("%s, containers' policy.json (signedBy GPGKeys) and the site's own lookaside: the unsigned tag and the one by another key", async (_case, target, host) => {
    const site = target === 'URL' ? `http://localhost:${gpgPort}` : target
    const name = host === 'localhost' ? 'localhost/app' : `localhost:${gpgPort}/app`
    const file = path.join(user, 'gpg-policy.json')
    const text = await run(['verify', site, '--policy', file])
    expect(text.code, text.stderr).toBe(5)
    const lines = text.stdout.trimEnd().split('\n')
    const lookaside = (tag: string) => `/signatures/app@sha256=${digests[`gpg ${tag}`]!.slice(7)}/signature-1`
    expect(lines.slice(0, -1).map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      expect.stringMatching(/^unsigned \S+app$/),
      `${name}#2.0: ${digests['gpg 2.0']}: refused by ${file}: no signature (no containers signature in the lookaside)`,
      expect.stringMatching(/^signature \S+app$/),
      expect.stringMatching(new RegExp(`^${name.replace(/[.]/g, '\\.')}#3\\.0: ${digests['gpg 3.0']}: refused by ${file.replace(/[.]/g, '\\.')}: unknown key \\(${target === 'URL' ? site : ''}${lookaside('3.0')}: signed by key ID [0-9A-F]{16}, not in the policy's keyring\\)$`)),
    ])
    expect(lines.at(-1)).toMatch(new RegExp(`^2 problems: ${site}: 1 image, 3 tags, .*; 1 signed as ${file.replace(/[.]/g, '\\.')} requires$`))

    const json = await run(['verify', site, '--policy', file, '--json'])
    expect(json.code, json.stderr).toBe(5)
    const result = JSON.parse(json.stdout)
    expect([result.policy, result.checked.signed]).toEqual([file, 1])
    expect(result.problems.map((p: Record<string, unknown>) => [p.kind, p.name, p.digest, p.reason])).toEqual([
      ['unsigned', `${name}#2.0`, digests['gpg 2.0'], 'no signature'],
      ['signature', `${name}#3.0`, digests['gpg 3.0'], 'unknown key'],
    ])
  })

  it('without --policy the same site verifies clean: signatures are checked only when asked', async () => {
    const r = await run(['verify', 'public'])
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).not.toContain('signed as')
  })

  it('a policy that does not exist exits 2 naming it, before any request', async () => {
    const r = await run(['verify', 'http://127.0.0.1:9', '--policy', 'missing.json'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/missing\.json: cannot read the policy \(ENOENT\)/)
  })
})

// verify --policy: a site (built by the installed CLI) whose image has a tag signed in cosign's
// tag scheme, one signed by a bundle referrer, one unsigned and one signed by another key. verify
// lists exactly the unsigned and the badly signed tag, as a directory and over nginx's /v2/,
// under doco-cd's trust policy and containers' policy.json, worded as pull refuses them.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayoutWriter } from '../src/content/layout/layout-writer.js'
import type { Descriptor } from '../src/oci/descriptor.js'
import { signTagLayer } from '../src/sign/cosign-tag.js'
import { loadSigningKey } from '../src/sign/keys.js'
import { image } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { addBundle, addTagSignature, docoCdPolicy, opensslKey } from './helpers/signing.js'

let user: string
let port: number
let nginx: RunningNginx
const digests: Record<string, string> = {}
const env = () => ({ XDG_CACHE_HOME: path.join(user, '.cache'), XDG_CONFIG_HOME: path.join(user, '.config'), CONTAINERS_REGISTRIES_D: path.join(user, 'no-registries.d') })
const run = (args: string[]) => installed(args, { cwd: user, env: env() })

beforeAll(async () => {
  user = await outsideDir()
  port = await freePort()
  opensslKey(user, 'trusted')
  opensslKey(user, 'other')
  const trusted = await loadSigningKey(await fs.readFile(path.join(user, 'trusted.pem')), 'trusted.pem')
  const other = await loadSigningKey(await fs.readFile(path.join(user, 'other.pem')), 'other.pem')
  const app = await LayoutWriter.create(path.join(user, 'layouts', 'app'))
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
  nginx = await startNginx([path.join(user, 'site.conf')], port)
}, 300_000)

afterAll(async () => {
  await nginx?.stop()
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

import { execFileSync, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { buildBundleReferrer, signBundle } from '../src/sign/cosign-bundle.js'
import { buildSignatureManifest, signTagLayer } from '../src/sign/cosign-tag.js'
import { loadSigningKey } from '../src/sign/keys.js'
import { image, tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'

// What signing takes in, through the installed CLI: signatures an input already carries, flags
// refused before anything is written (exit 2, one line naming the flag or file at fault), and
// encrypted cosign keys with their passphrase from each source.

let work: string
let home: string
let layout: string
let digest: string
const digests: Record<string, string> = {}

const env = (): NodeJS.ProcessEnv => ({ GNUPGHOME: home })

beforeAll(async () => {
  work = await tempDir('ocisite-sign-refused-')
  home = path.join(work, 'gnupg')
  await fs.mkdir(home, { mode: 0o700 })
  execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-out', 'ec.pem'], { cwd: work })
  await fs.writeFile(path.join(work, 'not-a-key.pem'), 'hello\n')
  layout = path.join(work, 'app')
  const w = await OciLayout.create(layout)
  for (const tag of ['1.0', 'unsigned']) {
    const d = await image(w, 'amd64', `app ${tag}`)
    await w.addToIndex(d, tag)
    digests[tag] = d.digest
  }
  digest = digests['1.0']!
})

afterAll(async () => {
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, ...env() } })
  await fs.rm(work, { recursive: true, force: true })
})

describe('cosign signatures an input carries', () => {
  it('an input carrying signatures by the key (as cosign save writes them) is published as it is, and not signed again', async () => {
    const dir = path.join(work, 'cosigned')
    await fs.cp(layout, dir, { recursive: true })
    const w = await OciLayout.create(dir)
    const key = await loadSigningKey(await fs.readFile(path.join(work, 'ec.pem')), 'ec.pem')
    const sig = buildSignatureManifest([signTagLayer(key, digest, 'localhost/cosigned')])
    for (const b of [sig.config, ...sig.layers]) await w.putBytes(b.bytes, b.mediaType)
    await w.addToIndex(await w.putBytes(sig.manifest.bytes, sig.manifest.mediaType), `sha256-${digest.slice(7)}.sig`)
    const index = (await w.readIndex()).find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === '1.0')!
    const ref = buildBundleReferrer(await signBundle(key, digest), index)
    for (const b of [ref.config, ref.layer]) await w.putBytes(b.bytes, b.mediaType)
    await w.addToIndex(await w.putBytes(ref.manifest.bytes, ref.manifest.mediaType, { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }))

    const out = path.join(work, 'site-cosigned')
    const r = await installed(['build', dir, '--host', 'localhost', '--out', out, '--sign-key', 'ec.pem', '--sign-format', 'both', '--json'], { cwd: work })
    expect(r.code, r.stderr).toBe(0)
    const app = JSON.parse(r.stdout).images.find((i: { path: string }) => i.path === 'cosigned')
    const tags = Object.fromEntries(app.tags.map((t: { tag: string; digest: string }) => [t.tag, t.digest]))
    // 1.0 keeps the input's signatures; the unsigned tag gets new ones.
    expect(tags[`sha256-${digest.slice(7)}.sig`]).toBe(sig.manifest.digest)
    expect(tags[`sha256-${digests['unsigned']!.slice(7)}.sig`]).toMatch(/^sha256:/)
    const oci = JSON.parse(await fs.readFile(path.join(out, 'oci-index', 'cosigned'), 'utf8'))
    expect(oci.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'])).toContain(`sha256-${digest.slice(7)}.sig`)
    const referrers = JSON.parse(await fs.readFile(path.join(out, 'v2', 'cosigned', '_referrers', 'sha256', `${digest.slice(7)}.json`), 'utf8'))
    expect(referrers.manifests.map((m: { digest: string }) => m.digest)).toEqual([ref.manifest.digest])
    const fallback = await fs.readFile(path.join(out, 'v2', 'cosigned', '_tags', `sha256-${digest.slice(7)}.oci-index`), 'utf8')
    expect(JSON.parse(fallback)).toEqual(referrers)
  })

})

describe('bad signing input is refused before anything is written', () => {
  it('a staging file that is no OpenPGP message is named, and no site is made', async () => {
    const staging = path.join(work, 'bad-staging', `app@sha256=${digest.slice(7)}`)
    await fs.mkdir(staging, { recursive: true })
    await fs.writeFile(path.join(staging, 'signature-1'), '{"critical":{}}')
    const out = path.join(work, 'never')
    const r = await installed(['build', layout, '--host', 'localhost', '--out', out, '--signatures', path.join(work, 'bad-staging')], { cwd: work })
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(`error[SIGNATURE_INVALID]: ${path.join(staging, 'signature-1')}: not an OpenPGP message`)])
    await expect(fs.stat(out)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it.each<[string, string[], string]>([
    ['an unknown --sign-format', ['--sign-key', 'ec.pem', '--sign-format', 'sig'], 'error[CONFIG_INVALID]: --sign-format sig: use tag, bundle, both'],
    ['--sign-format without a key', ['--sign-format', 'tag'], 'error[CONFIG_INVALID]: --sign-format selects the cosign schemes: it needs --sign-key'],
    ['--passphrase-file alone', ['--passphrase-file', 'pass.txt'], 'error[CONFIG_INVALID]: --passphrase-file is for --sign-key or --sign-by, and neither is given'],
    ['a gpg key the keyring lacks', ['--sign-by', 'F'.repeat(40)], `error[SIGNING_FAILED]: gpg has no public key ${'F'.repeat(40)}`],
    ['a missing staging tree', ['--signatures', 'nowhere'], 'error[INPUT_NOT_FOUND]: --signatures'],
    ['a key file that is no key', ['--sign-key', 'not-a-key.pem'], 'error[KEY_INVALID]'],
  ])('%s is refused, and nothing is written', async (_name, flags, message) => {
    const out = path.join(work, 'refused')
    const r = await installed(['build', layout, '--host', 'localhost', '--out', out, ...flags], { env: env(), cwd: work })
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(message)])
    await expect(fs.stat(out)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it.each<[string, NodeJS.ProcessEnv, string[], string | undefined]>([
    ['$COSIGN_PASSWORD', { COSIGN_PASSWORD: 's3cret' }, [], undefined],
    ['--passphrase-file', { COSIGN_PASSWORD: 'wrong' }, ['--passphrase-file', 'pass.txt'], undefined],
    ['no passphrase', {}, [], 'the key is encrypted; set COSIGN_PASSWORD or pass --passphrase-file'],
  ])('an encrypted key with %s', async (_name, extraEnv, flags, error) => {
    execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'ec.pem', '-passout', 'pass:s3cret', '-out', 'ec-enc.pem'], { cwd: work })
    await fs.writeFile(path.join(work, 'pass.txt'), 's3cret\n')
    const out = await fs.mkdtemp(path.join(work, 'enc-'))
    const { COSIGN_PASSWORD: _, ...rest } = process.env
    const r = await installed(['build', layout, '--host', 'localhost', '--out', out, '--sign-key', 'ec-enc.pem', '--sign-format', 'tag', ...flags], { env: { ...rest, COSIGN_PASSWORD: undefined, ...extraEnv }, cwd: work })
    if (error === undefined) {
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('.sig')
      expect(r.stdout).not.toContain('referrer')
    } else {
      expect([r.code, r.stderr]).toEqual([2, `ocisite: error[KEY_INVALID]: ${path.join(work, 'ec-enc.pem')}: ${error}\n`])
      expect(await fs.readdir(out)).toEqual([])
    }
  })
})

import { execFileSync, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isOcisiteError } from '../src/errors.js'
import { digestOf } from '../src/oci/digest.js'
import { gpgExportPublicKey, gpgSign } from '../src/sign/gpg.js'
import { lookasidePath } from '../src/sign/lookaside.js'
import { nextLookasideIndex, readLookasideTree } from '../src/sign/lookaside-tree.js'
import { checkGpgSignature, checkOpenPgpMessage, findGpgSignature, readKeyring, type GpgCandidate } from '../src/sign/openpgp.js'
import { atomicPayload } from '../src/sign/payload.js'
import { enforcePolicy, evaluatePolicy, type Subject } from '../src/sign/policy/evaluate.js'
import { loadPolicy } from '../src/sign/policy/load.js'
import { tempDir } from './helpers/fixtures.js'

// containers signatures against the real tools: gpg makes the keys, skopeo signs
// (`standalone-sign`, what `copy --sign-by` writes) and verifies (`standalone-verify`), offline.

let dir: string
let home: string
let trusted: string
let other: string
let protectedKey: string
let manifest: Buffer
let digest: string

const env = (): NodeJS.ProcessEnv => ({ ...process.env, GNUPGHOME: home })

/** A key as `gpg --quick-gen-key` makes it: gpg's default algorithm (RSA), or a quicker Ed25519. */
function genKey(uid: string, algorithm: 'default' | 'ed25519', passphrase = ''): string {
  const usage = algorithm === 'default' ? 'default' : 'sign'
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase, '--quick-gen-key', uid, algorithm, usage, 'never'], { env: env(), stdio: 'ignore' })
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], { env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!
}

function skopeo(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('skopeo', args, { env: env(), encoding: 'utf8' })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

const candidate = async (file: string): Promise<GpgCandidate> => ({ kind: 'gpg', source: file, signature: await fs.readFile(path.join(dir, file)) })
const subject = (tag = '1.0', manifestDigest = digest): Subject => ({ name: `localhost/app#${tag}`, reference: { name: 'localhost/app', tag }, manifestDigest })

async function policy(keyFile: string): Promise<string> {
  const file = path.join(dir, `policy-${keyFile}.json`)
  const requirement = { type: 'signedBy', keyType: 'GPGKeys', keyPath: path.join(dir, keyFile) }
  await fs.writeFile(file, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { localhost: [requirement] } } }))
  return file
}

beforeAll(async () => {
  dir = await tempDir('ocisite-sign-gpg-')
  home = path.join(dir, 'gnupg')
  await fs.mkdir(home, { mode: 0o700 })
  trusted = genKey('ocisite trusted <trusted@ocisite.invalid>', 'default')
  other = genKey('ocisite other <other@ocisite.invalid>', 'ed25519')
  protectedKey = genKey('ocisite protected <protected@ocisite.invalid>', 'ed25519', 'pw')
  await fs.writeFile(path.join(dir, 'trusted.asc'), execFileSync('gpg', ['--batch', '--armor', '--export', trusted], { env: env() }))
  await fs.writeFile(path.join(dir, 'other.gpg'), execFileSync('gpg', ['--batch', '--export', other], { env: env() }))
  manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 }, layers: [] }))
  digest = digestOf(manifest)
  await fs.writeFile(path.join(dir, 'manifest.json'), manifest)
  expect(skopeo('standalone-sign', path.join(dir, 'manifest.json'), 'localhost/app:1.0', trusted, '-o', path.join(dir, 'skopeo.sig')).status).toBe(0)
}, 300_000)

afterAll(async () => {
  // The gpg-agent this suite started for its GNUPGHOME, and nothing else.
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: env() })
  await fs.rm(dir, { recursive: true, force: true })
})

describe('skopeo signs, ocisite verifies', () => {
  it('a signature skopeo made is an OpenPGP message and satisfies signedBy with the armored key', async () => {
    await checkOpenPgpMessage(await fs.readFile(path.join(dir, 'skopeo.sig')), 'skopeo.sig')
    const verdict = await evaluatePolicy(await loadPolicy(await policy('trusted.asc')), subject(), { cosign: async () => [], gpg: async () => [await candidate('skopeo.sig')] })
    expect(verdict).toMatchObject({ accepted: true, scope: 'transports.docker["localhost"]', signatures: [{ key: trusted, dockerReference: 'localhost/app:1.0' }] })
  })

  // Subjects are made when the test runs: the digest is known only after beforeAll.
  it.each<[string, string, () => Subject, string]>([
    ['another key in the policy (binary keyring)', 'other.gpg', () => subject(), 'unknown key'],
    ['another tag (identity)', 'trusted.asc', () => subject('2.0'), 'identity mismatch'],
    ['another digest', 'trusted.asc', () => subject('1.0', `sha256:${'0'.repeat(64)}`), 'digest mismatch'],
  ])('refuses under %s', async (_name, keyFile, s, reason) => {
    const verdict = await evaluatePolicy(await loadPolicy(await policy(keyFile)), s(), { cosign: async () => [], gpg: async () => [await candidate('skopeo.sig')] })
    expect(verdict).toMatchObject({ accepted: false, reason })
  })

  it('no signature in the lookaside is refused with exit 6, one line', async () => {
    const err = await enforcePolicy(await loadPolicy(await policy('trusted.asc')), subject(), { cosign: async () => [], gpg: async () => [] }).catch((e: unknown) => e)
    expect(isOcisiteError(err) && [err.message, err.exitCode]).toEqual([`localhost/app#1.0: ${digest}: refused by ${path.join(dir, 'policy-trusted.asc.json')}: no signature (no containers signature in the lookaside)`, 6])
  })

  it('a file that is not an OpenPGP message is refused, naming it', async () => {
    await expect(checkOpenPgpMessage(Buffer.from('{"critical":{}}'), 'staging/app@sha256=00/signature-1')).rejects.toThrow('staging/app@sha256=00/signature-1: not an OpenPGP message')
  })
})

describe('ocisite signs with gpg, skopeo verifies', () => {
  it('skopeo standalone-verify accepts our signature for its identity and refuses another identity', async () => {
    await fs.writeFile(path.join(dir, 'ours.sig'), await gpgSign(atomicPayload(digest, 'localhost/app:1.0', { creator: 'ocisite' }), trusted, { gnupgHome: home }))
    const ok = skopeo('standalone-verify', path.join(dir, 'manifest.json'), 'localhost/app:1.0', trusted, path.join(dir, 'ours.sig'))
    expect(ok).toEqual({ status: 0, out: `Signature verified, digest ${digest}\n` })
    expect(skopeo('standalone-verify', path.join(dir, 'manifest.json'), 'localhost/app:2.0', trusted, path.join(dir, 'ours.sig')).status).not.toBe(0)
    expect(skopeo('standalone-verify', path.join(dir, 'manifest.json'), 'localhost/app:1.0', other, path.join(dir, 'ours.sig')).status).not.toBe(0)
  })

  it('the existing signature by the same key and identity is found, so a rebuild does not sign again', async () => {
    const ring = await readKeyring(await gpgExportPublicKey(trusted, { gnupgHome: home }), trusted)
    const sigs = [await candidate('skopeo.sig')]
    expect(await findGpgSignature(sigs, ring, digest, 'localhost/app:1.0')).toBe(sigs[0])
    expect(await findGpgSignature(sigs, ring, digest, 'localhost/app:latest')).toBeUndefined()
    expect((await checkGpgSignature(sigs[0]!, [ring], digest)).ok).toBe(true)
  })

  it('a passphrase-protected Ed25519 key signs through --passphrase-file; skopeo and OpenPGP.js verify it', async () => {
    await fs.writeFile(path.join(dir, 'pass.txt'), 'pw\n')
    const sig = await gpgSign(atomicPayload(digest, 'localhost/app:1.0'), protectedKey, { gnupgHome: home, passphraseFile: path.join(dir, 'pass.txt') })
    await fs.writeFile(path.join(dir, 'protected.sig'), sig)
    expect(skopeo('standalone-verify', path.join(dir, 'manifest.json'), 'localhost/app:1.0', protectedKey, path.join(dir, 'protected.sig')).status).toBe(0)
    const ring = await readKeyring(await gpgExportPublicKey(protectedKey, { gnupgHome: home }), protectedKey)
    expect(await checkGpgSignature(await candidate('protected.sig'), [ring], digest)).toMatchObject({ ok: true, key: protectedKey })
  })

  it('a key gpg does not have fails with SIGNING_FAILED, naming it', async () => {
    const missing = 'F'.repeat(40)
    await expect(gpgSign(Buffer.from('x'), missing, { gnupgHome: home })).rejects.toMatchObject({ code: 'SIGNING_FAILED', message: expect.stringContaining(`signing with ${missing}: gpg exited 2`) })
  })
})

describe('a lookaside staging tree', () => {
  async function tree(files: Record<string, Buffer | string>): Promise<string> {
    const root = await fs.mkdtemp(path.join(dir, 'staging-'))
    for (const [rel, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true })
      await fs.writeFile(path.join(root, rel), content)
    }
    return root
  }
  const at = (index: number, repository = 'team/app'): string => lookasidePath({ repository, digest, index })

  it("skopeo's signature laid out as skopeo does is read back, in order, with the next index", async () => {
    const sig = await fs.readFile(path.join(dir, 'skopeo.sig'))
    const root = await tree({ [at(1)]: sig, [at(2)]: await fs.readFile(path.join(dir, 'ours.sig')), [at(1, 'app')]: sig })
    const entries = await readLookasideTree(root)
    expect(entries.map((e) => [e.repository, e.index])).toEqual([['app', 1], ['team/app', 1], ['team/app', 2]])
    expect(entries[1]!.bytes.equals(sig)).toBe(true)
    expect(nextLookasideIndex(entries, 'team/app', digest)).toBe(3)
    expect(nextLookasideIndex(entries, 'other', digest)).toBe(1)
  })

  // Paths are made when the test runs: the digest is known only after beforeAll.
  it.each<[string, (sig: Buffer) => Record<string, Buffer | string>, () => string]>([
    ['a file that is no OpenPGP message', (sig) => ({ [at(1)]: sig, [at(2)]: '{"critical":{}}' }), () => `${at(2)}: not an OpenPGP message`],
    ['a gap in the numbering', (sig) => ({ [at(1)]: sig, [at(3)]: sig }), () => `${at(3)}: signature-2 is missing before it`],
    ['a stray file', (sig) => ({ [at(1)]: sig, 'notes.txt': 'hello' }), () => 'notes.txt: not a lookaside signature'],
  ])('refuses %s, naming the file', async (_name, files, message) => {
    const root = await tree(files(await fs.readFile(path.join(dir, 'skopeo.sig'))))
    await expect(readLookasideTree(root)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', message: expect.stringContaining(message()) })
  })

  it('refuses a symlink instead of following it', async () => {
    const root = await tree({ [at(1)]: await fs.readFile(path.join(dir, 'skopeo.sig')) })
    await fs.symlink(path.join(dir, 'skopeo.sig'), path.join(root, 'team', `app@sha256=${digest.slice(7)}`, 'signature-2'))
    await expect(readLookasideTree(root)).rejects.toThrow('signature-2: not a regular file or directory (symlinks are not followed)')
  })
})

import { execFileSync, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { bundleFromJSON } from '@sigstore/bundle'
import { Verifier, toSignedEntity } from '@sigstore/verify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Descriptor } from '../src/oci/descriptor.js'
import { buildBundleReferrer, bundleCandidates, preAuthEncoding, signBundle } from '../src/sign/cosign-bundle.js'
import { buildSignatureManifest, checkTagSignature, signTagLayer, tagCandidates } from '../src/sign/cosign-tag.js'
import { loadSigningKey, parsePublicKey } from '../src/sign/keys.js'
import { evaluatePolicy } from '../src/sign/policy/evaluate.js'
import { loadPolicy } from '../src/sign/policy/load.js'
import { tempDir } from './helpers/fixtures.js'

// cosign's key-based formats checked by tools that share no code with ocisite: openssl makes
// the keys and verifies the tag scheme's signatures, jq reads the payloads, @sigstore/verify
// verifies the bundles.

const DIGEST = `sha256:${'7'.repeat(64)}`
const REPO = 'example.com/ns/app'
let dir: string

const openssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

const makers = {
  ec: () => openssl('ecparam', '-genkey', '-name', 'prime256v1', '-out', 'ec.pem'),
  rsa: () => openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.pem'),
  ed25519: () => openssl('genpkey', '-algorithm', 'ed25519', '-out', 'ed25519.pem'),
}
type KeyType = keyof typeof makers

beforeAll(async () => {
  dir = await tempDir('ocisite-sign-openssl-')
  for (const [type, make] of Object.entries(makers)) {
    make()
    openssl('pkey', '-in', `${type}.pem`, '-pubout', '-out', `${type}.pub`)
  }
})

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true })
})

/** openssl's verdict on a signature over a file with a public key, as its exit code says. */
function opensslVerifies(type: KeyType, payload: string, signature: string): boolean {
  const args =
    type === 'ed25519'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', `${type}.pub`, '-rawin', '-in', payload, '-sigfile', signature]
      : ['dgst', '-sha256', '-verify', `${type}.pub`, '-signature', signature, payload]
  return spawnSync('openssl', args, { cwd: dir }).status === 0
}

describe('the cosign tag scheme with openssl-made keys', () => {
  it.each(Object.keys(makers) as KeyType[])('%s: openssl verifies the signature of the .sig layer, jq reads its claims', async (type) => {
    const key = await loadSigningKey(await fs.readFile(path.join(dir, `${type}.pem`)), `${type}.pem`)
    const sig = buildSignatureManifest([signTagLayer(key, DIGEST, REPO)])
    const manifest = JSON.parse(sig.manifest.bytes.toString())
    const layer = manifest.layers[0]
    await fs.writeFile(path.join(dir, `${type}.payload`), sig.layers[0]!.bytes)
    await fs.writeFile(path.join(dir, `${type}.sig`), Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'], 'base64'))
    expect(opensslVerifies(type, `${type}.payload`, `${type}.sig`)).toBe(true)
    const claims = execFileSync('jq', ['-r', '.critical.image["docker-manifest-digest"], .critical.identity["docker-reference"], .critical.type'], { cwd: dir, input: sig.layers[0]!.bytes, encoding: 'utf8' })
    expect(claims.trim().split('\n')).toEqual([DIGEST, REPO, 'cosign container image signature'])

    const changed = Buffer.from(await fs.readFile(path.join(dir, `${type}.sig`)))
    changed[changed.length - 5] = changed[changed.length - 5]! ^ 0x10
    await fs.writeFile(path.join(dir, `${type}.bad`), changed)
    expect(opensslVerifies(type, `${type}.payload`, `${type}.bad`)).toBe(false)
  })

  it.each(Object.keys(makers) as KeyType[])('%s: the public key we derive is the one openssl writes (same cosign hint)', async (type) => {
    const key = await loadSigningKey(await fs.readFile(path.join(dir, `${type}.pem`)), `${type}.pem`)
    const pub = parsePublicKey(await fs.readFile(path.join(dir, `${type}.pub`)), `${type}.pub`)
    expect(key.publicKeyPem).toBe(await fs.readFile(path.join(dir, `${type}.pub`), 'utf8'))
    expect(pub.hint).toBe(key.publicKey.hint)
  })

  it('an openssl-encrypted PKCS#8 key signs with its passphrase', async () => {
    openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'ec.pem', '-passout', 'pass:s3cret', '-out', 'ec-enc.pem')
    const key = await loadSigningKey(await fs.readFile(path.join(dir, 'ec-enc.pem')), 'ec-enc.pem', 's3cret')
    const sig = buildSignatureManifest([signTagLayer(key, DIGEST, REPO)])
    const blobs = new Map([sig.config, ...sig.layers].map((b) => [b.digest, b.bytes]))
    const [candidate] = await tagCandidates(sig.manifest.bytes, 'x.sig', async (d: Descriptor) => blobs.get(d.digest)!)
    expect(checkTagSignature(candidate!, [parsePublicKey(await fs.readFile(path.join(dir, 'ec.pub')), 'ec.pub')], DIGEST).ok).toBe(true)
  })
})

describe('the cosign bundle scheme with openssl-made keys', () => {
  it.each(['ec', 'ed25519'] as KeyType[])('%s: @sigstore/verify and openssl both verify the DSSE signature; a doco-cd policy accepts it', async (type) => {
    const key = await loadSigningKey(await fs.readFile(path.join(dir, `${type}.pem`)), `${type}.pem`)
    const pub = parsePublicKey(await fs.readFile(path.join(dir, `${type}.pub`)), `${type}.pub`)
    const referrer = buildBundleReferrer(await signBundle(key, DIGEST), { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 10 })
    const bundle = JSON.parse(referrer.layer.bytes.toString())

    const verifier = new Verifier(
      { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: pub.key, validFor: () => true }) },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    )
    expect(verifier.verify(toSignedEntity(bundleFromJSON(bundle))).key.asymmetricKeyType).toBe(pub.key.asymmetricKeyType)

    const envelope = bundle.dsseEnvelope
    await fs.writeFile(path.join(dir, `${type}.pae`), preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64')))
    await fs.writeFile(path.join(dir, `${type}.dsse.sig`), Buffer.from(envelope.signatures[0].sig, 'base64'))
    expect(opensslVerifies(type, `${type}.pae`, `${type}.dsse.sig`)).toBe(true)

    const pem = (await fs.readFile(path.join(dir, `${type}.pub`), 'utf8')).trimEnd().replace(/^/gm, '    ')
    await fs.writeFile(path.join(dir, 'trust.yaml'), `enabled: true\npublic_keys:\n  - |\n${pem}\n`)
    const candidates = await bundleCandidates(referrer.manifest.bytes, 'referrer', async () => referrer.layer.bytes)
    const subject = { name: `${REPO}#1.0`, reference: { name: REPO, tag: '1.0' }, manifestDigest: DIGEST }
    const verdict = await evaluatePolicy(await loadPolicy(path.join(dir, 'trust.yaml')), subject, { cosign: async () => candidates, gpg: async () => [] })
    expect(verdict).toMatchObject({ accepted: true, scope: 'doco-cd trust policy' })
  })
})

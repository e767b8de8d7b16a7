import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { Descriptor } from '../../src/oci/descriptor.js'
import {
  buildSignatureManifest,
  checkTagSignature,
  cosignSignatureTag,
  findTagSignature,
  layerOf,
  parseSignatureManifest,
  signTagLayer,
  tagCandidates,
  type SignatureManifest,
  type TagCandidate,
} from '../../src/sign/cosign-tag.js'
import { loadSigningKey, parsePublicKey, type SigningKey } from '../../src/sign/keys.js'
import { cosignPayload } from '../../src/sign/payload.js'

// A real `cosign sign --key` (v1.13.1) of index.docker.io/chihjenhuang/cosign1, from its
// registry trace: the digests and sizes registry served for the payload, config and manifest.
const REAL = {
  image: 'sha256:4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d',
  repository: 'index.docker.io/chihjenhuang/cosign1',
  created: '2023-02-17T09:25:33.91047962-08:00',
  signature: 'MEYCIQCPH7NJAIfrB6BZN91dV0o7l/i11muXrvrAh100jDMMhAIhAPsLH0oXb2OPITXRpWBMUd3vHtz5Ks5pql2Hr6t/IJXw',
  payload: { size: 252, digest: 'sha256:b671489ededd1a180bd87235bba00fd83354f9c7d13b71d9f8b66a8e52965ebc' },
  config: { size: 247, digest: 'sha256:85ad8e17d3d7c00664855c638832bd99f32d42542c2d587851410a45a7f60b95' },
  manifest: { size: 558, digest: 'sha256:7ebe8964225fa4619b53aa35416ef0246c037e36ddf81776b21b15e1dda2262b' },
}

const DIGEST = `sha256:${'1'.repeat(64)}`
const OTHER = `sha256:${'2'.repeat(64)}`
const REPO = 'example.com/ns/app'

function key(type: 'ec' | 'rsa' | 'ed25519'): Promise<SigningKey> {
  const { privateKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519')
  return loadSigningKey(Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' })), `${type}.pem`)
}

async function candidates(sig: SignatureManifest): Promise<TagCandidate[]> {
  const blobs = new Map([sig.config, ...sig.layers].map((b) => [b.digest, b.bytes]))
  return tagCandidates(sig.manifest.bytes, 'sha256-1.sig', async (d: Descriptor) => blobs.get(d.digest)!)
}

describe('the cosign tag scheme, byte for byte', () => {
  it('reproduces the payload, config and manifest a real cosign wrote', () => {
    const payload = cosignPayload(REAL.image, REAL.repository)
    const sig = buildSignatureManifest([{ payload, signature: REAL.signature }], REAL.created)
    expect({ size: sig.layers[0]!.size, digest: sig.layers[0]!.digest }).toEqual(REAL.payload)
    expect({ size: sig.config.size, digest: sig.config.digest }).toEqual(REAL.config)
    expect({ size: sig.manifest.size, digest: sig.manifest.digest }).toEqual(REAL.manifest)
  })

  it('names the tag sha256-<hex>.sig', () => {
    expect(cosignSignatureTag(REAL.image)).toBe('sha256-4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d.sig')
  })

  it('writes the zero creation time unless told, and one history entry per layer', async () => {
    const k = await key('ed25519')
    const sig = buildSignatureManifest([signTagLayer(k, DIGEST, REPO), signTagLayer(k, OTHER, REPO)])
    const config = JSON.parse(sig.config.bytes.toString())
    expect(config.created).toBe('0001-01-01T00:00:00Z')
    expect(config.history).toHaveLength(2)
    expect(config.rootfs.diff_ids).toEqual(sig.layers.map((l) => l.digest))
  })
})

describe('signing and checking tag-scheme signatures', () => {
  it.each(['ec', 'rsa', 'ed25519'] as const)('%s: a signature verifies, covers its digest and claims its repository', async (type) => {
    const k = await key(type)
    const [c] = await candidates(buildSignatureManifest([signTagLayer(k, DIGEST, REPO)]))
    expect(checkTagSignature(c!, [k.publicKey], DIGEST)).toEqual({ ok: true, source: 'sha256-1.sig layer 0', key: `${type}.pem`, dockerReference: REPO })
  })

  it.each([
    ['rsa', true],
    ['ed25519', true],
    ['ec', false],
  ] as const)('%s: signing twice gives the same bytes: %s', async (type, same) => {
    const k = await key(type)
    const a = buildSignatureManifest([signTagLayer(k, DIGEST, REPO)]).manifest.digest
    const b = buildSignatureManifest([signTagLayer(k, DIGEST, REPO)]).manifest.digest
    expect(a === b).toBe(same)
  })

  it('an ECDSA re-sign is avoided: the existing signature by the same key is found and carried unchanged', async () => {
    const k = await key('ec')
    const first = buildSignatureManifest([signTagLayer(k, DIGEST, REPO)])
    const found = findTagSignature(await candidates(first), k.publicKey, DIGEST, REPO)
    expect(found).toBeDefined()
    expect(buildSignatureManifest([layerOf(found!)]).manifest.bytes.equals(first.manifest.bytes)).toBe(true)
    expect(findTagSignature(await candidates(first), (await key('ec')).publicKey, DIGEST, REPO)).toBeUndefined()
    expect(findTagSignature(await candidates(first), k.publicKey, DIGEST, 'example.com/other')).toBeUndefined()
  })

  it('refuses another key, a changed signature, a moved signature and a payload of another kind', async () => {
    const k = await key('ec')
    const [c] = await candidates(buildSignatureManifest([signTagLayer(k, DIGEST, REPO)]))
    const other = await key('ec')
    expect(checkTagSignature(c!, [other.publicKey], DIGEST)).toMatchObject({ ok: false, reason: 'bad signature' })
    const sig = Buffer.from(c!.signature, 'base64')
    sig[sig.length - 3] = sig[sig.length - 3]! ^ 1
    expect(checkTagSignature({ ...c!, signature: sig.toString('base64') }, [k.publicKey], DIGEST)).toMatchObject({ ok: false, reason: 'bad signature' })
    expect(checkTagSignature({ ...c!, signature: '!!' }, [k.publicKey], DIGEST)).toMatchObject({ ok: false, reason: 'bad signature', detail: 'the signature annotation is not base64' })
    expect(checkTagSignature(c!, [k.publicKey], OTHER)).toMatchObject({ ok: false, reason: 'digest mismatch', detail: `signed ${DIGEST}` })
  })

  it('a payload blob that does not match its descriptor is refused when read', async () => {
    const k = await key('ed25519')
    const sig = buildSignatureManifest([signTagLayer(k, DIGEST, REPO)])
    await expect(tagCandidates(sig.manifest.bytes, 'x.sig', async () => Buffer.from('{}'))).rejects.toThrow('does not match its descriptor')
  })

  it('only simple-signing layers with a signature annotation are candidates', () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        layers: [
          { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: DIGEST, size: 3, annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' } },
          { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: DIGEST, size: 3 },
          { mediaType: 'application/octet-stream', digest: DIGEST, size: 3, annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' } },
        ],
      }),
    )
    expect(parseSignatureManifest(manifest, 'm')).toHaveLength(1)
  })

  it('public keys of other curves are refused, naming the key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
    expect(() => parsePublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'p384.pub')).toThrow('p384.pub: EC key on curve secp384r1; only P-256')
  })
})

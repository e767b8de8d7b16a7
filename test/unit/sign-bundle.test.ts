import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { bundleFromJSON } from '@sigstore/bundle'
import { Verifier, toSignedEntity } from '@sigstore/verify'
import { describe, expect, it } from 'vitest'
import type { Descriptor } from '../../src/oci/descriptor.js'
import {
  BUNDLE_MEDIA_TYPE,
  buildBundleReferrer,
  bundleCandidates,
  checkBundle,
  findBundleSignature,
  signBundle,
  type BundleCandidate,
  type BundleReferrer,
} from '../../src/sign/cosign-bundle.js'
import { loadSigningKey, type SigningKey } from '../../src/sign/keys.js'

const DIGEST = `sha256:${'3'.repeat(64)}`
const OTHER = `sha256:${'4'.repeat(64)}`
const SUBJECT: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 1234 }

async function key(type: 'ec' | 'ed25519'): Promise<SigningKey> {
  const { privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519')
  return loadSigningKey(Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' })), `${type}.pem`)
}

async function signed(k: SigningKey, digest = DIGEST): Promise<{ referrer: BundleReferrer; candidate: BundleCandidate }> {
  const referrer = buildBundleReferrer(await signBundle(k, digest), SUBJECT)
  const blobs = new Map([referrer.config, referrer.layer].map((b) => [b.digest, b.bytes]))
  const [candidate] = await bundleCandidates(referrer.manifest.bytes, 'referrer', async (d: Descriptor) => blobs.get(d.digest)!)
  return { referrer, candidate: candidate! }
}

/** @sigstore/verify, called directly, with the public key as the only trust material. */
function sigstoreVerify(bundle: Uint8Array, publicKey: KeyObject, hint: string): KeyObject {
  const verifier = new Verifier(
    {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: (h: string) => {
        if (h !== hint) throw new Error(`unknown key hint ${h}`)
        return { publicKey, validFor: () => true }
      },
    },
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  )
  return verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(Buffer.from(bundle).toString('utf8'))))).key
}

describe('the cosign v3 bundle scheme', () => {
  it.each(['ec', 'ed25519'] as const)('%s: @sigstore/verify accepts our bundle with the public key, and so do we', async (type) => {
    const k = await key(type)
    const { candidate } = await signed(k)
    expect(sigstoreVerify(candidate.bundle, k.publicKey.key, k.publicKey.hint).asymmetricKeyType).toBe(k.publicKey.key.asymmetricKeyType)
    expect(checkBundle(candidate, [k.publicKey], DIGEST)).toEqual({ ok: true, source: 'referrer layer 0', key: `${type}.pem`, dockerReference: undefined })
  })

  it('holds a DSSE envelope of an in-toto statement whose subject is the digest', async () => {
    const { candidate } = await signed(await key('ed25519'))
    const bundle = JSON.parse(Buffer.from(candidate.bundle).toString())
    expect(bundle.mediaType).toBe(BUNDLE_MEDIA_TYPE)
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json')
    expect(JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString())).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: '3'.repeat(64) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    })
    expect(bundle.verificationMaterial.publicKey.hint).toMatch(/^[A-Za-z0-9+/]{43}=$/)
  })

  it('the referrer is what cosign writes: artifactType, one bundle layer, the empty config, the subject, the annotations', async () => {
    const { referrer } = await signed(await key('ed25519'))
    expect(JSON.parse(referrer.manifest.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', artifactType: BUNDLE_MEDIA_TYPE },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, size: referrer.layer.size, digest: referrer.layer.digest }],
      annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
      subject: { mediaType: SUBJECT.mediaType, size: SUBJECT.size, digest: DIGEST },
      artifactType: BUNDLE_MEDIA_TYPE,
    })
  })

  it('Ed25519 bundles are the same bytes each time; ECDSA ones are found and kept instead', async () => {
    const ed = await key('ed25519')
    expect((await signed(ed)).referrer.manifest.digest).toBe((await signed(ed)).referrer.manifest.digest)
    const ec = await key('ec')
    const first = await signed(ec)
    expect((await signed(ec)).referrer.manifest.digest).not.toBe(first.referrer.manifest.digest)
    expect(findBundleSignature([first.candidate], ec.publicKey, DIGEST)).toBe(first.candidate)
    expect(findBundleSignature([first.candidate], ec.publicKey, OTHER)).toBeUndefined()
  })

  it('refuses another key (by its hint), a changed signature and another digest', async () => {
    const k = await key('ec')
    const { candidate } = await signed(k)
    const other = await key('ec')
    expect(checkBundle(candidate, [other.publicKey], DIGEST)).toMatchObject({ ok: false, reason: 'unknown key' })
    const bundle = JSON.parse(Buffer.from(candidate.bundle).toString())
    const sig = Buffer.from(bundle.dsseEnvelope.signatures[0].sig, 'base64')
    sig[sig.length - 2] = sig[sig.length - 2]! ^ 1
    bundle.dsseEnvelope.signatures[0].sig = sig.toString('base64')
    const tampered = { ...candidate, bundle: Buffer.from(JSON.stringify(bundle)) }
    expect(checkBundle(tampered, [k.publicKey], DIGEST)).toMatchObject({ ok: false, reason: 'bad signature' })
    expect(() => sigstoreVerify(tampered.bundle, k.publicKey.key, k.publicKey.hint)).toThrow('signature verification failed')
    expect(checkBundle(candidate, [k.publicKey], OTHER)).toMatchObject({ ok: false, reason: 'digest mismatch', detail: `signed ${DIGEST}` })
  })

  it('other referrers (attestations) are no signature candidates', async () => {
    const { referrer } = await signed(await key('ed25519'))
    const doc = JSON.parse(referrer.manifest.bytes.toString())
    doc.annotations['dev.sigstore.bundle.predicateType'] = 'https://slsa.dev/provenance/v1'
    expect(await bundleCandidates(Buffer.from(JSON.stringify(doc)), 'r', async () => referrer.layer.bytes)).toEqual([])
  })
})

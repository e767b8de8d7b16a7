import { BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, bundleFromJSON, bundleToJSON, type Bundle } from '@sigstore/bundle'
import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { parseJsonObject } from '../oci/json.js'
import { MediaType } from '../oci/media-types.js'
import { blobOf, fetchChecked, goDescriptor, sortKeys, type Blob, type FetchBlob } from './blob.js'
import { rejected, type SignatureCheck } from './check.js'
import { signBytes, verifyBytes, type SigningKey, type VerifyingKey } from './keys.js'
import { goJson } from './payload.js'

/** The bundle's media type; also the referrer's `artifactType` and its single layer's type. */
export const BUNDLE_MEDIA_TYPE = BUNDLE_V03_MEDIA_TYPE
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json'
export const INTOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1'
/** The predicate type of `cosign sign` in the bundle scheme. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1'
export const BUNDLE_CONTENT_ANNOTATION = 'dev.sigstore.bundle.content'
export const BUNDLE_PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType'
/** The OCI empty descriptor's media type; its content is `{}`. */
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json'

/** The in-toto Statement v1 cosign signs: subject = the manifest digest, predicate `{}`. */
export function signStatement(manifestDigest: string): Buffer {
  const d = parseDigest(manifestDigest, 'bundle statement')
  return goJson({ _type: INTOTO_STATEMENT_V1, subject: [{ digest: { [d.algorithm]: d.encoded } }], predicateType: COSIGN_SIGN_PREDICATE, predicate: {} })
}

/**
 * A Sigstore bundle v0.3 holding a DSSE envelope of `signStatement(manifestDigest)`, signed with
 * `key` and naming it by hint (no certificate, no Rekor entry, no timestamp: offline with keys).
 */
export async function signBundle(key: SigningKey, manifestDigest: string): Promise<Blob> {
  // @sigstore/sign loads its Fulcio and Rekor clients with it; only signing pays for that.
  const { DSSEBundleBuilder } = await import('@sigstore/sign')
  const signer = {
    sign: async (data: Buffer) => ({ signature: signBytes(key, data), key: { $case: 'publicKey' as const, publicKey: key.publicKeyPem, hint: key.publicKey.hint } }),
  }
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: signStatement(manifestDigest), type: INTOTO_PAYLOAD_TYPE })
  return blobOf(Buffer.from(JSON.stringify(bundleToJSON(bundle))), BUNDLE_MEDIA_TYPE)
}

/** A referrer manifest and the blobs it names, ready to publish. */
export interface BundleReferrer {
  readonly manifest: Blob
  readonly config: Blob
  readonly layer: Blob
}

/**
 * The referrer cosign v3 writes for a bundle (`WriteAttestationNewBundleFormat`), in Go's field
 * order, less its `org.opencontainers.image.created` annotation so a rebuild gives the same bytes.
 */
export function buildBundleReferrer(bundle: Blob, subject: Descriptor): BundleReferrer {
  const config = blobOf(Buffer.from('{}'), EMPTY_MEDIA_TYPE)
  const manifest = goJson({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: goDescriptor(config, { artifactType: BUNDLE_MEDIA_TYPE }),
    layers: [goDescriptor(bundle)],
    annotations: sortKeys({ [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope', [BUNDLE_PREDICATE_ANNOTATION]: COSIGN_SIGN_PREDICATE }),
    subject: goDescriptor({ mediaType: subject.mediaType, size: subject.size, digest: subject.digest }),
    artifactType: BUNDLE_MEDIA_TYPE,
  })
  return { manifest: blobOf(manifest, MediaType.ociManifest), config, layer: bundle }
}

/** A bundle as found: its bytes (digest-checked) and where they came from. */
export interface BundleCandidate {
  readonly kind: 'cosign-bundle'
  readonly source: string
  readonly bundle: Uint8Array
}

/**
 * The bundle layers of a referrer manifest that is a cosign signature (artifactType the bundle
 * type, predicate type cosign's sign or absent); other referrers (attestations, notation) give none.
 */
export async function bundleCandidates(manifestBytes: Uint8Array, where: string, fetch: FetchBlob): Promise<BundleCandidate[]> {
  const doc = parseJsonObject(manifestBytes, where)
  const annotations = (doc.annotations ?? {}) as Record<string, unknown>
  const predicate = annotations[BUNDLE_PREDICATE_ANNOTATION]
  if (doc.artifactType !== BUNDLE_MEDIA_TYPE || (predicate !== undefined && predicate !== COSIGN_SIGN_PREDICATE)) return []
  const layers = Array.isArray(doc.layers) ? (doc.layers as Descriptor[]) : []
  const bundles = layers.filter((l) => l?.mediaType === BUNDLE_MEDIA_TYPE)
  return Promise.all(bundles.map(async (l, i) => ({ kind: 'cosign-bundle' as const, source: `${where} layer ${i}`, bundle: await fetchChecked(fetch, l, where) })))
}

/**
 * Check a bundle with our own code (node:crypto; @sigstore/bundle only parses): a DSSE envelope
 * of an in-toto statement with cosign's sign predicate, one signature that one of `keys`
 * verifies over the DSSE pre-authentication encoding, and a subject digest = `manifestDigest`.
 */
export function checkBundle(candidate: BundleCandidate, keys: readonly VerifyingKey[], manifestDigest: string): SignatureCheck {
  const { source } = candidate
  let bundle: Bundle
  try {
    bundle = bundleFromJSON(parseJsonObject(candidate.bundle, source))
  } catch (err) {
    return rejected(source, 'bad signature', `not a Sigstore bundle (${(err as Error).message})`)
  }
  if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE && bundle.mediaType !== BUNDLE_V03_LEGACY_MEDIA_TYPE) return rejected(source, 'bad signature', `bundle media type ${bundle.mediaType}, want ${BUNDLE_V03_MEDIA_TYPE}`)
  const material = bundle.verificationMaterial.content
  if (material.$case !== 'publicKey') return rejected(source, 'unknown key', 'a keyless (certificate) bundle: that needs Fulcio and Rekor, which ocisite does not use')
  if (bundle.content.$case !== 'dsseEnvelope') return rejected(source, 'bad signature', 'the bundle holds no DSSE envelope')
  const envelope = bundle.content.dsseEnvelope
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE || envelope.signatures.length !== 1) return rejected(source, 'bad signature', `want one signature over an in-toto payload`)
  const pae = preAuthEncoding(envelope.payloadType, envelope.payload)
  const key = keys.find((k) => verifyBytes(k, pae, envelope.signatures[0]!.sig))
  if (!key) {
    const hint = material.publicKey.hint
    const known = hint === '' || keys.some((k) => k.hint === hint)
    return known ? rejected(source, 'bad signature', `verifies with none of the ${keys.length} trusted key(s)`) : rejected(source, 'unknown key', `signed by the key with hint ${hint}`)
  }
  return checkStatement(source, envelope.payload, manifestDigest, key)
}

function checkStatement(source: string, payload: Buffer, manifestDigest: string, key: VerifyingKey): SignatureCheck {
  let statement: Record<string, unknown>
  try {
    statement = parseJsonObject(payload, source)
  } catch (err) {
    return rejected(source, 'bad signature', (err as OcisiteError).message)
  }
  if (statement._type !== INTOTO_STATEMENT_V1 || statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    return rejected(source, 'bad signature', `the statement is not a cosign signature (predicateType ${JSON.stringify(statement.predicateType)})`)
  }
  const want = parseDigest(manifestDigest, source)
  const subjects = Array.isArray(statement.subject) ? (statement.subject as { digest?: Record<string, unknown> }[]) : []
  if (!subjects.some((s) => s?.digest?.[want.algorithm] === want.encoded)) {
    const signed = subjects.flatMap((s) => Object.entries(s?.digest ?? {}).map(([a, h]) => `${a}:${String(h)}`))
    return rejected(source, 'digest mismatch', `signed ${signed.join(', ') || 'no digest'}`)
  }
  return { ok: true, source, key: key.label, dockerReference: undefined }
}

/** DSSE's pre-authentication encoding: `DSSEv1 <len> <type> <len> <body>`. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8')
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), Buffer.from(payload)])
}

/** The existing bundle `key` validly made for `manifestDigest`, if any: the caller skips re-signing. */
export function findBundleSignature(candidates: readonly BundleCandidate[], key: VerifyingKey, manifestDigest: string): BundleCandidate | undefined {
  return candidates.find((c) => checkBundle(c, [key], manifestDigest).ok)
}

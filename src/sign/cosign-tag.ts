import { OcisiteError } from '../errors.js'
import { parseDescriptor, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { parseJsonObject } from '../oci/json.js'
import { MediaType } from '../oci/media-types.js'
import { blobOf, fetchChecked, goDescriptor, type Blob, type FetchBlob } from './blob.js'
import { rejected, type SignatureCheck } from './check.js'
import { signBytes, verifyBytes, type SigningKey, type VerifyingKey } from './keys.js'
import { COSIGN_SIGNATURE_TYPE, cosignPayload, goJson, parseSimpleSigning } from './payload.js'

/** The media type of each layer of a cosign signature manifest. */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json'
/** The layer annotation that holds the base64 signature over the layer's bytes. */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature'
/** go-containerregistry's zero time, which cosign (without --record-creation-timestamp) leaves. */
export const ZERO_TIME = '0001-01-01T00:00:00Z'

/** One layer of a `.sig` manifest: a payload and its signature (plus any other annotations). */
export interface SignatureLayer {
  readonly payload: Buffer
  /** Base64 signature over `payload`. */
  readonly signature: string
  /** Other layer annotations cosign may carry (certificate, chain, bundle), kept as they are. */
  readonly annotations?: Record<string, string>
}

/** A `.sig` manifest and the blobs it names, ready to publish. */
export interface SignatureManifest {
  readonly manifest: Blob
  readonly config: Blob
  readonly layers: readonly Blob[]
}

/** The tag cosign attaches signatures under: `sha256-<hex>.sig`. */
export function cosignSignatureTag(manifestDigest: string): string {
  const d = parseDigest(manifestDigest, 'signature tag')
  return `${d.algorithm}-${d.encoded}.sig`
}

/**
 * Sign `manifestDigest` for `dockerReference` (a repository, as cosign claims it) with `key`.
 * Ed25519 and RSA give the same bytes every time; ECDSA does not, so a caller that must not
 * change a published site first looks for a signature by the same key (`findTagSignature`).
 */
export function signTagLayer(key: SigningKey, manifestDigest: string, dockerReference: string, annotations?: Record<string, string>): SignatureLayer {
  const payload = cosignPayload(manifestDigest, dockerReference, annotations)
  return { payload, signature: signBytes(key, payload).toString('base64') }
}

/**
 * The `.sig` manifest for these layers, byte for byte as cosign writes it: an OCI manifest with
 * the OCI config media type, a config go-containerregistry derives from the layers, and each
 * layer's annotations. Layers keep their order (cosign appends).
 */
export function buildSignatureManifest(layers: readonly SignatureLayer[], created = ZERO_TIME): SignatureManifest {
  if (layers.length === 0) throw new OcisiteError('SIGNATURE_INVALID', 'a signature manifest needs at least one signature')
  const blobs = layers.map((l) => blobOf(l.payload, SIMPLE_SIGNING_MEDIA_TYPE))
  const config = blobOf(
    goJson({
      architecture: '',
      created,
      history: layers.map(() => ({ created: ZERO_TIME })),
      os: '',
      rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) },
      config: {},
    }),
    MediaType.ociConfig,
  )
  const manifest = goJson({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: goDescriptor(config),
    layers: blobs.map((b, i) => goDescriptor(b, { annotations: { ...layers[i]!.annotations, [COSIGN_SIGNATURE_ANNOTATION]: layers[i]!.signature } })),
  })
  return { manifest: blobOf(manifest, MediaType.ociManifest), config, layers: blobs }
}

/** The signature layers of a `.sig` manifest (untrusted bytes), with their payload descriptors. */
export function parseSignatureManifest(bytes: Uint8Array, where: string): { descriptor: Descriptor; signature: string; annotations: Record<string, string> }[] {
  const doc = parseJsonObject(bytes, where)
  if (!Array.isArray(doc.layers)) throw new OcisiteError('SIGNATURE_INVALID', `${where}: the signature manifest has no layers array`)
  return doc.layers.flatMap((value, i) => {
    const d = parseDescriptor(value, `${where} layer ${i}`)
    const signature = d.annotations?.[COSIGN_SIGNATURE_ANNOTATION]
    if (d.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || typeof signature !== 'string') return []
    const { parsedDigest: _parsed, ...descriptor } = d
    return [{ descriptor, signature, annotations: d.annotations ?? {} }]
  })
}

/** A tag-scheme signature as found: its payload bytes (digest-checked) and signature. */
export interface TagCandidate {
  readonly kind: 'cosign-tag'
  readonly source: string
  readonly payload: Uint8Array
  readonly signature: string
  readonly annotations: Record<string, string>
}

/** Read every signature layer of a `.sig` manifest through `fetch`, checking each blob's digest. */
export async function tagCandidates(manifestBytes: Uint8Array, where: string, fetch: FetchBlob): Promise<TagCandidate[]> {
  const layers = parseSignatureManifest(manifestBytes, where)
  return Promise.all(
    layers.map(async (l, i) => ({
      kind: 'cosign-tag' as const,
      source: `${where} layer ${i}`,
      payload: await fetchChecked(fetch, l.descriptor, where),
      signature: l.signature,
      annotations: l.annotations,
    })),
  )
}

/**
 * Check one tag-scheme signature: it verifies with one of `keys` and its payload names
 * `manifestDigest`. The identity it claims is returned for the policy to judge. With no key hint
 * in this scheme, a signature no trusted key verifies is reported as a bad signature.
 */
export function checkTagSignature(candidate: TagCandidate, keys: readonly VerifyingKey[], manifestDigest: string): SignatureCheck {
  const { source } = candidate
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(candidate.signature)) return rejected(source, 'bad signature', 'the signature annotation is not base64')
  const signature = Buffer.from(candidate.signature, 'base64')
  const key = keys.find((k) => verifyBytes(k, candidate.payload, signature))
  if (!key) return rejected(source, 'bad signature', `verifies with none of the ${keys.length} trusted key(s)`)
  let claim
  try {
    claim = parseSimpleSigning(candidate.payload, source)
  } catch (err) {
    return rejected(source, 'bad signature', (err as Error).message)
  }
  if (claim.type !== COSIGN_SIGNATURE_TYPE) return rejected(source, 'bad signature', `the payload type is "${claim.type}", not cosign's`)
  if (claim.manifestDigest !== manifestDigest) return rejected(source, 'digest mismatch', `signed ${claim.manifestDigest}`)
  return { ok: true, source, key: key.label, dockerReference: claim.dockerReference }
}

/**
 * The existing layer (if any) that `key` validly signed for `manifestDigest` claiming
 * `dockerReference`: a caller that finds one skips signing, so a rebuild with a randomised
 * (ECDSA) key leaves the site byte-identical.
 */
export function findTagSignature(candidates: readonly TagCandidate[], key: VerifyingKey, manifestDigest: string, dockerReference: string): TagCandidate | undefined {
  return candidates.find((c) => {
    const check = checkTagSignature(c, [key], manifestDigest)
    return check.ok && check.dockerReference === dockerReference
  })
}

/** A found candidate as a layer to carry into a rebuilt `.sig` manifest, bytes unchanged. */
export function layerOf(candidate: TagCandidate): SignatureLayer {
  const { [COSIGN_SIGNATURE_ANNOTATION]: _sig, ...annotations } = candidate.annotations
  return { payload: Buffer.from(candidate.payload), signature: candidate.signature, annotations }
}

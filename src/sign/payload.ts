import { OcisiteError } from '../errors.js'
import { parseDigest } from '../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../oci/json.js'

/** `critical.type` of cosign's simple-signing payload (sigstore/cosign specs/SIGNATURE_SPEC.md). */
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature'
/** `critical.type` of a containers signature (containers-signature(5)), as skopeo signs it. */
export const ATOMIC_SIGNATURE_TYPE = 'atomic container signature'

/** What a simple-signing payload claims: this docker reference has this manifest digest. */
export interface SimpleSigningClaim {
  readonly type: typeof COSIGN_SIGNATURE_TYPE | typeof ATOMIC_SIGNATURE_TYPE
  /** `critical.identity.docker-reference`: a repository (cosign) or repository:tag (skopeo). */
  readonly dockerReference: string
  /** `critical.image.docker-manifest-digest`. */
  readonly manifestDigest: string
  /** `optional`, as signed (null when cosign wrote none). */
  readonly optional: Record<string, unknown> | null
}

/**
 * cosign's payload, byte for byte as sigstore's `payload.Cosign` marshals it: Go struct order,
 * `optional` null unless annotations are given (then a map, keys sorted, as Go writes maps).
 * `dockerReference` is the repository without tag, as cosign claims it (`ref.Context().Name()`).
 */
export function cosignPayload(manifestDigest: string, dockerReference: string, annotations?: Record<string, string>): Buffer {
  parseDigest(manifestDigest, 'cosign payload')
  const optional = annotations && Object.keys(annotations).length > 0 ? sortedObject(annotations) : null
  return goJson({
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: COSIGN_SIGNATURE_TYPE },
    optional,
  })
}

/**
 * The payload skopeo signs (containers/image `untrustedSignature`): Go maps, so keys sorted.
 * `optional` always present (the parser requires it); `creator` and `timestamp` only when given,
 * so the same inputs give the same bytes.
 */
export function atomicPayload(manifestDigest: string, dockerReference: string, optional: { creator?: string; timestamp?: number } = {}): Buffer {
  parseDigest(manifestDigest, 'signature payload')
  if (optional.timestamp !== undefined && !Number.isSafeInteger(optional.timestamp)) {
    throw new OcisiteError('SIGNATURE_INVALID', `signature payload: timestamp ${optional.timestamp} is not an integer`)
  }
  return goJson({
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: ATOMIC_SIGNATURE_TYPE },
    optional: sortedObject({ ...(optional.creator !== undefined ? { creator: optional.creator } : {}), ...(optional.timestamp !== undefined ? { timestamp: optional.timestamp } : {}) }),
  })
}

/**
 * Parse a signed payload strictly, as containers/image does: `critical` has exactly `type`,
 * `image` and `identity`; `image` exactly `docker-manifest-digest`; `identity` exactly
 * `docker-reference`. Throws SIGNATURE_INVALID naming `where`.
 */
export function parseSimpleSigning(bytes: Uint8Array, where: string): SimpleSigningClaim {
  let doc: Record<string, unknown>
  try {
    doc = parseJsonObject(bytes, where, MAX_JSON_BYTES)
  } catch (err) {
    throw new OcisiteError('SIGNATURE_INVALID', `${where}: the signed payload is not a JSON object`, { file: where }, { cause: err })
  }
  const bad = (what: string): OcisiteError => new OcisiteError('SIGNATURE_INVALID', `${where}: the signed payload ${what}`, { file: where })
  const critical = exactObject(doc.critical, ['type', 'image', 'identity'], 'critical', bad)
  const type = critical.type
  if (type !== COSIGN_SIGNATURE_TYPE && type !== ATOMIC_SIGNATURE_TYPE) throw bad(`has critical.type ${JSON.stringify(type)}`)
  const image = exactObject(critical.image, ['docker-manifest-digest'], 'critical.image', bad)
  const identity = exactObject(critical.identity, ['docker-reference'], 'critical.identity', bad)
  const digest = image['docker-manifest-digest']
  const reference = identity['docker-reference']
  if (typeof reference !== 'string' || reference === '') throw bad('has no critical.identity.docker-reference string')
  try {
    parseDigest(digest, where)
  } catch (err) {
    throw new OcisiteError('SIGNATURE_INVALID', `${where}: the signed payload has an invalid docker-manifest-digest`, { file: where }, { cause: err })
  }
  const optional = doc.optional
  if (optional !== null && optional !== undefined && (typeof optional !== 'object' || Array.isArray(optional))) throw bad('has an optional field that is not an object')
  if (optional === undefined && type === ATOMIC_SIGNATURE_TYPE) throw bad('has no optional field')
  return { type, dockerReference: reference, manifestDigest: digest as string, optional: (optional ?? null) as Record<string, unknown> | null }
}

function exactObject(value: unknown, keys: string[], name: string, bad: (what: string) => OcisiteError): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`has no ${name} object`)
  const have = Object.keys(value)
  const extra = have.find((k) => !keys.includes(k))
  if (extra !== undefined) throw bad(`has an unknown field ${name}.${extra}`)
  const missing = keys.find((k) => !have.includes(k))
  if (missing !== undefined) throw bad(`has no ${name}.${missing}`)
  return value as Record<string, unknown>
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k] as T]))
}

/** JSON as Go's encoding/json writes it: compact, with <, >, &, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): Buffer {
  const text = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return Buffer.from(text, 'utf8')
}

import { createHash, type Hash } from 'node:crypto'
import { OcisiteError } from '../errors.js'

/** A parsed, validated digest: `algorithm:encoded`. */
export interface Digest {
  readonly algorithm: 'sha256' | 'sha512'
  readonly encoded: string
  readonly value: string
}

const lengths = { sha256: 64, sha512: 128 } as const

/** Digests parsed already (a site names each blob many times over); bounded, so memory stays flat. */
const parsed = new Map<string, Digest>()

/** Parse untrusted digest text; only registered algorithms with lowercase hex of the right length pass. */
export function parseDigest(text: unknown, where = 'digest'): Digest {
  const known = typeof text === 'string' ? parsed.get(text) : undefined
  if (known) return known
  const digest = parseDigestText(text, where)
  if (parsed.size >= 200_000) parsed.clear()
  parsed.set(digest.value, digest)
  return digest
}

function parseDigestText(text: unknown, where: string): Digest {
  if (typeof text !== 'string') throw new OcisiteError('DIGEST_INVALID', `${where}: digest is missing or not a string`, { digest: text })
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(text)
  const algorithm = m?.[1]
  const encoded = m?.[2]
  if (!m || !algorithm || !encoded || !(algorithm in lengths)) {
    throw new OcisiteError('DIGEST_INVALID', `${where}: malformed digest "${text}" (want sha256:<64 hex> or sha512:<128 hex>)`, { digest: text })
  }
  const alg = algorithm as keyof typeof lengths
  if (encoded.length !== lengths[alg]) {
    throw new OcisiteError('DIGEST_INVALID', `${where}: malformed digest "${text}" (${alg} needs ${lengths[alg]} hex characters)`, { digest: text })
  }
  return Object.freeze({ algorithm: alg, encoded, value: text })
}

export function createDigester(algorithm: Digest['algorithm']): Hash {
  return createHash(algorithm)
}

/** Digest of bytes held in memory (small documents only). */
export function digestOf(bytes: Uint8Array, algorithm: Digest['algorithm'] = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

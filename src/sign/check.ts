/** Why a signature (or an image) was not accepted; the words a refusal prints. */
export type RefusalReason = 'no signature' | 'unknown key' | 'bad signature' | 'digest mismatch' | 'identity mismatch' | 'rejected by policy'

/** A signature that verified with a trusted key and covers the digest asked about. */
export interface SignatureAccepted {
  readonly ok: true
  /** Where the signature came from: a `.sig` layer, a bundle referrer, a lookaside file. */
  readonly source: string
  /** The trusted key that verified it (a file, a policy entry, a fingerprint). */
  readonly key: string
  /** The docker reference the signature claims; undefined for bundles, which claim none. */
  readonly dockerReference: string | undefined
}

/** A signature that was not accepted, and why. */
export interface SignatureRejected {
  readonly ok: false
  readonly source: string
  readonly reason: RefusalReason
  readonly detail: string
}

export type SignatureCheck = SignatureAccepted | SignatureRejected

// How far a rejected signature got: a refusal reports the one that got furthest, which says
// most about what is wrong (a valid signature for another digest beats an unknown key).
const progress: Record<RefusalReason, number> = {
  'no signature': 0,
  'rejected by policy': 0,
  'unknown key': 1,
  'bad signature': 2,
  'digest mismatch': 3,
  'identity mismatch': 4,
}

/** The rejection that got furthest (the first of equals), or undefined for none. */
export function furthest(rejections: readonly SignatureRejected[]): SignatureRejected | undefined {
  let best: SignatureRejected | undefined
  for (const r of rejections) if (!best || progress[r.reason] > progress[best.reason]) best = r
  return best
}

export function rejected(source: string, reason: RefusalReason, detail: string): SignatureRejected {
  return { ok: false, source, reason, detail }
}

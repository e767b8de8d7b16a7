import { OcisiteError } from '../../errors.js'
import { furthest, rejected, type RefusalReason, type SignatureAccepted, type SignatureCheck, type SignatureRejected } from '../check.js'
import { checkBundle, type BundleCandidate } from '../cosign-bundle.js'
import { checkTagSignature, type TagCandidate } from '../cosign-tag.js'
import type { VerifyingKey } from '../keys.js'
import { checkGpgSignature, type GpgCandidate } from '../openpgp.js'
import { formatReference, type DockerReference } from '../reference.js'
import { requirementsFor, type ContainersPolicy, type Requirement } from './containers-policy.js'
import type { DocoCdPolicy } from './doco-cd.js'
import { identityMatches, type SignedIdentity } from './identity.js'
import { KeyCache, type Policy } from './load.js'

/** What is being fetched: the name as the user wrote it, its docker reference, the digest. */
export interface Subject {
  /** For messages, e.g. `example.com/app#1.0`. */
  readonly name: string
  /** `host/repository` with the tag or digest asked for (see `referenceOf`). */
  readonly reference: DockerReference
  /** The digest of the manifest about to be used. */
  readonly manifestDigest: string
}

/**
 * Where candidate signatures come from. The caller fetches (site, registry, lookaside); each is
 * called at most once, and only if the policy needs that family.
 */
export interface SignatureSource {
  /** cosign's: the `.sig` tag's layers (`tagCandidates`) and bundle referrers (`bundleCandidates`). */
  cosign(): Promise<readonly (TagCandidate | BundleCandidate)[]>
  /** containers signatures from the lookaside, signature-1, -2, … */
  gpg(): Promise<readonly GpgCandidate[]>
}

export type Verdict =
  | { readonly accepted: true; readonly scope: string; readonly signatures: readonly SignatureAccepted[] }
  | { readonly accepted: false; readonly scope: string; readonly reason: RefusalReason; readonly detail: string }

/**
 * Evaluate a policy for what is being fetched. containers' policy.json: every requirement of
 * the most specific scope must hold; a signedBy or sigstoreSigned requirement holds when at
 * least one signature verifies with its keys, covers the digest and (for simple-signing
 * payloads) claims an identity its signedIdentity accepts. Bundles claim no identity (cosign
 * signs the digest only): they satisfy sigstoreSigned on key and digest alone, as `cosign
 * verify` accepts them. doco-cd: off unless enabled; then a cosign signature by one of its keys
 * covering the digest, identity unchecked, as `cosign verify --key`.
 */
export async function evaluatePolicy(policy: Policy, subject: Subject, source: SignatureSource, keys = new KeyCache()): Promise<Verdict> {
  const once = memo(source)
  if (policy.kind === 'doco-cd') return evaluateDocoCd(policy, subject, once)
  const { scope, requirements } = requirementsFor(policy, subject.reference)
  const accepted: SignatureAccepted[] = []
  for (const requirement of requirements) {
    const result = await evaluateRequirement(requirement, policy, subject, once, keys)
    if (!result.ok) return { accepted: false, scope, reason: result.reason, detail: result.detail }
    accepted.push(...result.signatures)
  }
  return { accepted: true, scope, signatures: accepted }
}

/** `evaluatePolicy`, throwing SIGNATURE_REFUSED (exit 6) with one line naming name, digest and reason. */
export async function enforcePolicy(policy: Policy, subject: Subject, source: SignatureSource, keys?: KeyCache): Promise<Verdict & { accepted: true }> {
  const verdict = await evaluatePolicy(policy, subject, source, keys)
  if (verdict.accepted) return verdict
  throw new OcisiteError('SIGNATURE_REFUSED', `${subject.name}: ${subject.manifestDigest}: refused by ${policy.file}: ${verdict.reason} (${verdict.detail})`, {
    name: subject.name,
    digest: subject.manifestDigest,
    reason: verdict.reason,
    scope: verdict.scope,
  })
}

type Outcome = { ok: true; signatures: SignatureAccepted[] } | { ok: false; reason: RefusalReason; detail: string }

async function evaluateRequirement(requirement: Requirement, policy: ContainersPolicy, subject: Subject, source: SignatureSource, keys: KeyCache): Promise<Outcome> {
  switch (requirement.type) {
    case 'insecureAcceptAnything':
      return { ok: true, signatures: [] }
    case 'reject':
      return { ok: false, reason: 'rejected by policy', detail: `${formatReference(subject.reference)} falls under a "reject" requirement` }
    case 'signedBy': {
      const keyrings = await keys.gpg(requirement.keys, policy.file)
      const candidates = await source.gpg()
      const checks = await Promise.all(candidates.map((c) => checkGpgSignature(c, keyrings, subject.manifestDigest)))
      return decide(checks.map((c) => withIdentity(c, requirement.signedIdentity, subject.reference)), 'no containers signature in the lookaside')
    }
    case 'sigstoreSigned': {
      const trusted = await keys.sigstore(requirement.keys, policy.file)
      const checks = (await source.cosign()).map((c) => checkCosign(c, trusted, subject.manifestDigest))
      return decide(checks.map((c) => withIdentity(c, requirement.signedIdentity, subject.reference)), 'no cosign signature (no .sig tag layer, no bundle referrer)')
    }
  }
}

async function evaluateDocoCd(policy: DocoCdPolicy, subject: Subject, source: SignatureSource): Promise<Verdict> {
  const scope = 'doco-cd trust policy'
  if (!policy.enabled) return { accepted: true, scope: `${scope} (not enabled)`, signatures: [] }
  const checks = (await source.cosign()).map((c) => checkCosign(c, policy.keys, subject.manifestDigest))
  const outcome = decide(checks, 'no cosign signature (no .sig tag layer, no bundle referrer)')
  return outcome.ok ? { accepted: true, scope, signatures: outcome.signatures } : { accepted: false, scope, reason: outcome.reason, detail: outcome.detail }
}

function checkCosign(candidate: TagCandidate | BundleCandidate, keys: readonly VerifyingKey[], digest: string): SignatureCheck {
  return candidate.kind === 'cosign-tag' ? checkTagSignature(candidate, keys, digest) : checkBundle(candidate, keys, digest)
}

/** A verified signature whose claimed identity the rule refuses becomes an identity mismatch. */
function withIdentity(check: SignatureCheck, rule: SignedIdentity, intended: DockerReference): SignatureCheck {
  if (!check.ok || check.dockerReference === undefined || identityMatches(rule, intended, check.dockerReference)) return check
  return rejected(check.source, 'identity mismatch', `signed for ${check.dockerReference}, fetched as ${formatReference(intended)}, signedIdentity ${rule.type}`)
}

function decide(checks: readonly SignatureCheck[], none: string): Outcome {
  const accepted = checks.filter((c): c is SignatureAccepted => c.ok)
  if (accepted.length > 0) return { ok: true, signatures: accepted }
  const best = furthest(checks.filter((c): c is SignatureRejected => !c.ok))
  if (!best) return { ok: false, reason: 'no signature', detail: none }
  const others = checks.length > 1 ? `; ${checks.length} signatures, none accepted` : ''
  return { ok: false, reason: best.reason, detail: `${best.source}: ${best.detail}${others}` }
}

function memo(source: SignatureSource): SignatureSource {
  let cosign: ReturnType<SignatureSource['cosign']> | undefined
  let gpg: ReturnType<SignatureSource['gpg']> | undefined
  return { cosign: () => (cosign ??= source.cosign()), gpg: () => (gpg ??= source.gpg()) }
}

/** What a referrer is, from its artifact type, as the pages and `inspect` label it. */
export type ReferrerKind = 'signature' | 'sbom' | 'attestation' | 'other'

/** Artifact types of signatures: Sigstore bundles (cosign's referrers scheme), cosign's OCI 1.1 signatures, Notary v2 (notation). */
const SIGNATURE_TYPES = [/^application\/vnd\.dev\.sigstore\.bundle(?:\.v0\.\d+)?\+json(?:;.*)?$/, /^application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json$/, /^application\/vnd\.cncf\.notary\.signature$/]
const SBOM_TYPES = [/spdx/i, /cyclonedx/i, /syft/i, /sbom/i]
const ATTESTATION_TYPES = [/in-toto/i, /attestation/i, /provenance/i, /slsa/i]

/** A referrer's kind from its artifact type (or media type when it has none). */
export function referrerKind(artifactType: string | undefined): ReferrerKind {
  if (!artifactType) return 'other'
  if (SIGNATURE_TYPES.some((re) => re.test(artifactType))) return 'signature'
  if (SBOM_TYPES.some((re) => re.test(artifactType))) return 'sbom'
  if (ATTESTATION_TYPES.some((re) => re.test(artifactType))) return 'attestation'
  return 'other'
}

/** A cosign tag (`sha256-<hex>.sig`, `.att`, `.sbom`): the digest it belongs to and what it holds. */
export interface CosignTag {
  subject: string
  kind: 'sig' | 'att' | 'sbom'
}

/** The subject and kind of a cosign tag-scheme tag, or undefined for any other tag. */
export function cosignTag(tag: string): CosignTag | undefined {
  const m = /^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)$/.exec(tag)
  return m ? { subject: `${m[1]}:${m[2]}`, kind: m[3] as CosignTag['kind'] } : undefined
}

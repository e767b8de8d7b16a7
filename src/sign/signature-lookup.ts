import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { MAX_SIGNATURE_BYTES, type FetchBlob } from './blob.js'
import { BUNDLE_MEDIA_TYPE, bundleCandidates, type BundleCandidate } from './cosign-bundle.js'
import { cosignSignatureTag, tagCandidates, type TagCandidate } from './cosign-tag.js'
import { lookasideUrl } from './lookaside.js'
import type { GpgCandidate } from './openpgp.js'
import type { SignatureSource } from './policy/evaluate.js'

// Where the signatures of a digest are, as cosign and containers/image look for them: the
// `.sig` tag of the image, Sigstore bundles among the digest's referrers, and containers
// signatures in a lookaside (`<repository>@sha256=<hex>/signature-<n>`). How each is reached
// (a client resolving a name, verify reading a site) is the caller's: a SignatureLookup.

/** A lookaside answering 200 to every signature-<n> is refused past this many. */
export const MAX_LOOKASIDE_SIGNATURES = 64

/** `/signatures/`: where a site serves its own lookaside (`lookaside: https://HOST/signatures`). */
export const SITE_LOOKASIDE_PATH = '/signatures/'

/** A tag cosign attaches to a digest (`sha256-<hex>.sig`, `.att`, `.sbom`): a signature, not content. */
export const COSIGN_ATTACHMENT_TAG = /^sha(256|512)-[0-9a-f]+\.(sig|att|sbom)$/

/** How one image's signatures are reached; the caller's transport. */
export interface SignatureLookup {
  /** The descriptor a tag of the image names; undefined when the image has no such tag. */
  tag(tag: string): Promise<Descriptor | undefined>
  /** The referrers of a digest (the referrers API, or the `sha256-<hex>` fallback tag); none when neither answers. */
  referrers(digest: string): Promise<readonly Descriptor[]>
  /** A blob's bytes (signature manifests, payloads, bundles). */
  fetch: FetchBlob
  /**
   * The lookaside base URL, if any, and how one of its files is read (undefined when missing);
   * `display` names a file's URL in messages (verify of a directory names it by its site path).
   */
  lookaside?: { base: string; read(url: string): Promise<Uint8Array | undefined>; display?(url: string): string }
}

/** The signatures of `digest` in `repository`, fetched only when a policy asks for that family. */
export function signatureSource(lookup: SignatureLookup, image: { repository: string; where: string }, digest: string): SignatureSource {
  return {
    cosign: async () => [...(await tagScheme(lookup, image.where, digest)), ...(await bundles(lookup, digest))],
    gpg: async () => (lookup.lookaside === undefined ? [] : lookasideSignatures(lookup.lookaside, image.repository, digest)),
  }
}

/** cosign's tag scheme: the layers of `sha256-<hex>.sig`. `where` names the image (`host/repo`). */
async function tagScheme(lookup: SignatureLookup, where: string, digest: string): Promise<TagCandidate[]> {
  const tag = cosignSignatureTag(digest)
  const sig = await lookup.tag(tag)
  if (!sig) return []
  return tagCandidates(await lookup.fetch(sig), `${where}#${tag}`, lookup.fetch)
}

/** Sigstore bundles among the referrers of the digest. */
async function bundles(lookup: SignatureLookup, digest: string): Promise<BundleCandidate[]> {
  const out: BundleCandidate[] = []
  for (const r of await lookup.referrers(digest)) {
    if (r.artifactType !== undefined && r.artifactType !== BUNDLE_MEDIA_TYPE) continue
    if (r.size > MAX_SIGNATURE_BYTES) continue
    out.push(...(await bundleCandidates(await lookup.fetch(r), `referrer ${r.digest}`, lookup.fetch)))
  }
  return out
}

/** containers signatures of `digest`: signature-1, -2, … under the lookaside, until one is missing. */
async function lookasideSignatures(lookaside: NonNullable<SignatureLookup['lookaside']>, repository: string, digest: string): Promise<GpgCandidate[]> {
  const out: GpgCandidate[] = []
  for (let index = 1; index <= MAX_LOOKASIDE_SIGNATURES; index++) {
    const url = lookasideUrl(lookaside.base, { repository, digest, index })
    const signature = await lookaside.read(url)
    if (!signature) return out
    out.push({ kind: 'gpg', source: lookaside.display?.(url) ?? url, signature })
  }
  throw new OcisiteError('PROTOCOL', `${lookaside.base}: more than ${MAX_LOOKASIDE_SIGNATURES} signatures of ${repository}@${digest}`, { url: lookaside.base })
}

import type { Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest, type Digest } from '../../oci/digest.js'
import { MediaType, manifestKindOf } from '../../oci/media-types.js'
import { canonicalBytes } from '../../oci/json.js'
import type { SiteFiles } from './documents.js'
import type { SitePlan } from '../plan/plan.js'
import { SiteLayout } from '../map.js'

/** The /v2/ tree: per-repository files and links into the CAS, site-wide files, and the blobs it generates. */
export interface V2Tree extends SiteFiles {
  /** `/v2/` and `_catalog`: written after every repository they list. */
  siteWide: SiteFiles
  /** Documents ocisite generates that are manifests too (referrers indexes), stored in the CAS. */
  blobs: Array<{ digest: Digest; bytes: Buffer }>
}

/**
 * Lay out the static distribution API. Manifest files are hard links to the CAS with a suffix
 * that selects their media type, so no bytes are stored twice.
 */
export function v2Tree(plan: SitePlan): V2Tree {
  const files = new Map<string, Buffer>()
  const links = new Map<string, string>()
  const blobs: V2Tree['blobs'] = []
  const siteWide = new Map<string, Buffer>([
    [SiteLayout.v2Base, Buffer.from('{}')],
    [SiteLayout.v2Catalog, canonicalBytes({ repositories: plan.images.map((i) => i.path) })],
  ])

  for (const image of plan.images) {
    const repo = image.path
    for (const m of image.manifests) links.set(SiteLayout.v2Manifest(repo, m.digest, m.kind), SiteLayout.blob(m.digest))
    const listed: string[] = []
    for (const t of image.tags) {
      const kind = manifestKindOf(t.entry.mediaType)
      if (!kind) continue // an opaque artifact blob tagged directly is discoverable, but it is not a manifest
      const digest = parseDigest(t.entry.digest)
      links.set(SiteLayout.v2Tag(repo, t.tag, kind), SiteLayout.blob(digest))
      listed.push(t.tag)
    }
    files.set(SiteLayout.v2TagsList(repo), canonicalBytes({ name: repo, tags: listed }))

    // Referrers: one index per subject, served by the referrers API and the sha256-<hex> fallback tag.
    for (const [subject, referrers] of image.referrers) {
      const bytes = canonicalBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: referrers satisfies Descriptor[] })
      const digest = parseDigest(digestOf(bytes))
      const subjectDigest = parseDigest(subject)
      blobs.push({ digest, bytes })
      const blob = SiteLayout.blob(digest)
      links.set(SiteLayout.v2Referrers(repo, subjectDigest), blob)
      links.set(SiteLayout.v2Manifest(repo, digest, 'oci-index'), blob)
      const fallback = `${subjectDigest.algorithm}-${subjectDigest.encoded}`
      links.set(SiteLayout.v2Tag(repo, fallback, 'oci-index'), blob)
    }
  }
  return { files, links, blobs, siteWide: { files: siteWide, links: new Map() } }
}

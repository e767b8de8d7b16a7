import type { Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest, type Digest } from '../../oci/digest.js'
import { MediaType, manifestKindOf } from '../../oci/media-types.js'
import { canonicalBytes } from '../../oci/json.js'
import type { SiteFiles } from './documents.js'
import type { SitePlan } from '../plan/plan.js'
import { pathOf } from '../map.js'

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
  const links = new Map<string, Digest>()
  const blobs: V2Tree['blobs'] = []
  const siteWide = new Map<string, Buffer>([
    [pathOf({ kind: 'v2-base' }), Buffer.from('{}')],
    [pathOf({ kind: 'catalog' }), canonicalBytes({ repositories: plan.images.map((i) => i.path) })],
  ])

  for (const image of plan.images) {
    const repo = image.path
    for (const m of image.manifests) links.set(pathOf({ kind: 'manifest', repo, digest: m.digest, manifestKind: m.kind }), m.digest)
    const listed: string[] = []
    for (const t of image.tags) {
      const manifestKind = manifestKindOf(t.entry.mediaType)
      if (!manifestKind) continue // an opaque artifact blob tagged directly is discoverable, but it is not a manifest
      links.set(pathOf({ kind: 'tag', repo, tag: t.tag, manifestKind }), parseDigest(t.entry.digest))
      listed.push(t.tag)
    }
    files.set(pathOf({ kind: 'tags-list', repo }), canonicalBytes({ name: repo, tags: listed }))

    // Referrers: one index per subject, served by the referrers API and the sha256-<hex> fallback tag.
    for (const [subject, referrers] of image.referrers) {
      const bytes = canonicalBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: referrers satisfies Descriptor[] })
      const digest = parseDigest(digestOf(bytes))
      const subjectDigest = parseDigest(subject)
      blobs.push({ digest, bytes })
      links.set(pathOf({ kind: 'referrers', repo, digest: subjectDigest }), digest)
      links.set(pathOf({ kind: 'manifest', repo, digest, manifestKind: 'oci-index' }), digest)
      const fallback = `${subjectDigest.algorithm}-${subjectDigest.encoded}`
      links.set(pathOf({ kind: 'tag', repo, tag: fallback, manifestKind: 'oci-index' }), digest)
    }
  }
  return { files, links, blobs, siteWide: { files: siteWide, links: new Map() } }
}

import { cosignTag } from './signatures.js'
import { compareNewestFirst, timeOf } from './tag-order.js'
import type { TagFacts } from './tag-facts.js'

/** What the home page shows of one image, kept in the site record so `add` and `rm` need not re-read other images. */
export interface ImageSummary {
  /** Tags listed (cosign `.sig`, `.att` and `.sbom` tags of a listed tag are shown with it, not counted). */
  tags: number
  /** The newest listed tag. */
  newest?: string
  /** Every blob the image path publishes, once: manifests, configs, layers, referrers. */
  size: number
  /** The newest `created` among its tags (RFC 3339, as the image gives it). */
  lastChange?: string
  /** How many pages its tags take. */
  pages: number
}

/**
 * The tags a page lists, newest first: every tag except cosign tag-scheme tags (`sha256-<hex>.sig`)
 * whose subject is another listed tag's digest: those show as that tag's signature instead.
 */
export function listedTags<T extends { tag: string; digest: string; created?: string }>(facts: T[]): T[] {
  const digests = new Set(facts.map((f) => f.digest))
  return facts.filter((f) => isListed(f.tag, digests)).sort(compareNewestFirst)
}

/** Is `tag` listed, among tags naming `digests`? Not when it is a cosign tag of one of them. */
export function isListed(tag: string, digests: ReadonlySet<string>): boolean {
  const c = cosignTag(tag)
  return !(c && digests.has(c.subject))
}

/** The summary of an image from its listed tags and all of its tags' facts. */
export function summarize(listed: TagFacts[], all: TagFacts[], pages: number): ImageSummary {
  const blobs = new Map<string, number>()
  for (const f of all) for (const [d, size] of f.blobs) blobs.set(d, size)
  let size = 0
  for (const n of blobs.values()) size += n
  let lastChange: string | undefined
  for (const f of listed) if (f.created !== undefined && (lastChange === undefined || (timeOf(f.created) ?? 0) > (timeOf(lastChange) ?? 0))) lastChange = f.created
  return { tags: listed.length, ...(listed[0] ? { newest: listed[0].tag } : {}), size, ...(lastChange ? { lastChange } : {}), pages }
}

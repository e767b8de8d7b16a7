import type { ImageSummary } from '../facts/image-summary.js'
import type { ReadBlob } from '../facts/tag-facts.js'
import { entryOf, pathOf } from '../map.js'
import type { SitePlan } from '../plan/plan.js'
import type { SiteFiles } from '../write/documents.js'
import { publishesAsBefore, renderPages, type KeptPages } from '../write/pages/pages.js'
import type { Published } from '../write/published.js'
import type { BucketObject } from './objects.js'

/**
 * A bucket site's HTML pages for a plan: the pages rendered (changed images, the home page, the
 * assets), and the page files of unchanged images, which the bucket already holds, by their
 * fingerprint in the record (no bytes: they are not written again).
 */
export interface BucketPages {
  documents: SiteFiles[]
  kept: Map<string, string>
  summaries: Map<string, ImageSummary>
}

/**
 * Render the pages of `plan`, against what generation `prior` published (its summaries and page
 * fingerprints): an image that publishes exactly what it did keeps its pages, as in a site
 * directory; the others are rendered, their configs read through `read`.
 */
export async function bucketPages(read: ReadBlob, plan: SitePlan, published: Published, prior: { published: Published; pages: Map<string, string> } | undefined): Promise<BucketPages> {
  const previous = new Map((prior?.published.images ?? []).map((i) => [i.path, i]))
  const kept = new Map<string, string>()
  const keep: KeptPages = async (image) => {
    const p = previous.get(image.path)
    if (!p?.summary || !publishesAsBefore(image, p)) return undefined
    const files = Array.from({ length: p.summary.pages }, (_, i) => pathOf({ kind: 'page', repo: image.path, page: i + 1 }))
    if (!files.every((rel) => prior!.pages.has(rel))) return undefined
    for (const rel of files) kept.set(rel, prior!.pages.get(rel)!)
    return { files: [], summary: p.summary }
  }
  const pages = await renderPages(read, plan, published.settings, keep)
  return { ...pages, kept }
}

/** The fingerprints of a generation's page files (home, images' pages, assets), for its record. */
export function pageFingerprints(objects: Map<string, BucketObject>): Map<string, string> {
  const out = new Map<string, string>()
  for (const o of objects.values()) if (o.file && ['home', 'page', 'page-asset'].includes(entryOf(o.file)?.kind ?? '')) out.set(o.file, o.fingerprint)
  return out
}

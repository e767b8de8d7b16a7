import { promises as fs } from 'node:fs'
import { mapLimit } from '../../../concurrency.js'
import { canonicalBytes } from '../../../oci/json.js'
import { lstatOrUndefined } from '../../../fs/atomic.js'
import { describeTag } from '../../facts/tag-facts.js'
import { listedTags, summarize, type ImageSummary } from '../../facts/image-summary.js'
import type { PlannedImage, SitePlan } from '../../plan/plan.js'
import type { SiteFiles } from '../documents.js'
import type { Published, PublishedImage } from '../published.js'
import { pathOf } from '../../map.js'
import type { SitePaths } from '../../site-paths.js'
import { planReader } from './plan-reader.js'
import { pageAssetFiles, pageTemplates, type PageTemplates } from './render.js'
import { homeHref, imageHref, imageRow, paginate, pagination, tagView, type SiteView } from './views.js'
import type { ReadBlob } from '../../facts/tag-facts.js'

/** Tags on one page, and about how many bytes of them: a 10,000-tag image stays fast to browse. */
const TAGS_PER_PAGE = 100
const TAG_BYTES_PER_PAGE = 150_000
const IMAGES_PER_PAGE = 200
/** A page file kept from an earlier write is read back whole; none is near this. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024

/** The pages of a site: files to write (assets, image pages, then the home pages), and each image's summary for the record. */
export interface SitePages {
  documents: SiteFiles[]
  summaries: Map<string, ImageSummary>
}

const filesOf = (entries: Iterable<[string, Buffer]>): SiteFiles => ({ files: new Map(entries), links: new Map() })

/** One image's page files and its summary. */
export interface ImagePages {
  files: Array<[string, Buffer]>
  summary: ImageSummary
}

/** An image's pages from an earlier write, when it publishes exactly what it did; undefined: render them. */
export type KeptPages = (image: PlannedImage) => Promise<ImagePages | undefined>

/**
 * The HTML pages of a planned site: a home page listing every image, and a page per image
 * listing its tags, newest first, paginated. Deterministic: the same plan gives the same bytes
 * (dates come from the images, never the clock). With `before` (an `add` or `rm`), an image
 * that publishes exactly what it did keeps its pages and summary as they are; only changed
 * images are read and rendered again, and the home page is made from the summaries.
 */
export async function sitePages(site: SitePaths, plan: SitePlan, settings: SiteView, before?: PublishedImage[]): Promise<SitePages> {
  const previous = before ? new Map(before.map((i) => [i.path, i])) : undefined
  return renderPages(planReader(site, plan), plan, settings, previous && ((image) => keptPages(site, image, previous.get(image.path))))
}

/** The pages of a planned site, its small blobs read through `read`; `kept` gives the pages of an image that has not changed. */
export async function renderPages(read: ReadBlob, plan: SitePlan, settings: SiteView, kept?: KeptPages): Promise<SitePages> {
  const templates = await pageTemplates()
  const view: SiteView = { host: settings.host, v2: settings.v2 }
  const rendered = await mapLimit(plan.images, 4, async (image) => (kept && (await kept(image))) || renderImage(templates, read, image, view))
  const summaries = new Map(plan.images.map((image, i) => [image.path, rendered[i]!.summary]))
  const assets = (await pageAssetFiles()).map(([name, bytes]) => [pathOf({ kind: 'page-asset', name }), bytes] as [string, Buffer])
  return {
    documents: [filesOf(assets), filesOf(rendered.flatMap((r) => r.files)), filesOf(homePages(templates, summaries, view))],
    summaries,
  }
}

/** The site record with each image's summary (for the home page of a later `add` or `rm`). */
export function withSummaries(record: Published, summaries: Map<string, ImageSummary> | undefined): Published {
  if (!summaries) return record
  return { ...record, images: record.images.map((i) => (summaries.has(i.path) ? { ...i, summary: summaries.get(i.path)! } : i)) }
}

/** One page: the layout around a body. */
function page(t: PageTemplates, title: string, view: SiteView, body: string, crumb?: string): Buffer {
  return Buffer.from(t.layout({ title, site: view, body, crumb }))
}

/** Read and render one image's pages. */
async function renderImage(t: PageTemplates, read: ReadBlob, image: PlannedImage, view: SiteView): Promise<ImagePages> {
  const names = new Set(image.tags.map((tag) => tag.tag))
  const referrersOf = async (digest: string) => image.referrers.get(digest) ?? []
  const all = await mapLimit(image.tags, 16, (tag) => describeTag(read, referrersOf, tag.tag, tag.entry, names))
  const listed = listedTags(all)
  const chunks = paginate(
    listed.map((f) => t.tag(tagView(f, image.path, view))),
    TAGS_PER_PAGE,
    TAG_BYTES_PER_PAGE,
  )
  const summary = summarize(listed, all, chunks.length)
  const common = { site: view, path: image.path, summary, sizeText: imageRow(image.path, summary).sizeText, lastChange: summary.lastChange, lastChangeText: imageRow(image.path, summary).lastChangeText }
  const files = chunks.map((fragments, i): [string, Buffer] => {
    const body = t.image({ ...common, fragments, pagination: pagination(i + 1, chunks.length, (p) => imageHref(image.path, p)) })
    const title = `${image.path} on ${view.host}${chunks.length > 1 ? ` (page ${i + 1} of ${chunks.length})` : ''}`
    return [pathOf({ kind: 'page', repo: image.path, page: i + 1 }), page(t, title, view, body, image.path)]
  })
  return { files, summary }
}

/** Home pages: every image by path, from the summaries. */
function homePages(t: PageTemplates, summaries: Map<string, ImageSummary>, view: SiteView): Array<[string, Buffer]> {
  const rows = [...summaries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, s]) => imageRow(p, s))
  const count = Math.max(1, Math.ceil(rows.length / IMAGES_PER_PAGE))
  const out: Array<[string, Buffer]> = []
  for (let i = 0; i < count; i++) {
    const body = t.home({ site: view, total: rows.length, images: rows.slice(i * IMAGES_PER_PAGE, (i + 1) * IMAGES_PER_PAGE), pagination: pagination(i + 1, count, homeHref) })
    out.push([pathOf({ kind: 'home', page: i + 1 }), page(t, `Images on ${view.host}${count > 1 ? ` (page ${i + 1} of ${count})` : ''}`, view, body)])
  }
  return out
}

/** What an image publishes, as the record keeps it: its pages change exactly when this does. */
const publishes = (tags: PublishedImage['tags'], referrers: PublishedImage['referrers']) => canonicalBytes({ tags, referrers })

/** Whether a planned image publishes exactly what the record says it did (then its pages are as they were). */
export function publishesAsBefore(image: PlannedImage, prior: PublishedImage): boolean {
  const now = publishes(image.tags.map((t) => ({ tag: t.tag, entry: t.entry })), [...image.referrers].map(([subject, manifests]) => ({ subject, manifests })))
  return now.equals(publishes(prior.tags, prior.referrers))
}

/**
 * The pages an image already has, when it publishes exactly what the record says it did and its
 * summary and every page file are there; undefined means render it.
 */
async function keptPages(site: SitePaths, image: PlannedImage, prior: PublishedImage | undefined): Promise<ImagePages | undefined> {
  if (!prior?.summary || !publishesAsBefore(image, prior)) return undefined
  const files: Array<[string, Buffer]> = []
  for (let p = 1; p <= prior.summary.pages; p++) {
    const rel = pathOf({ kind: 'page', repo: image.path, page: p })
    const st = lstatOrUndefined(site.abs(rel))
    if (!st?.isFile() || st.size > MAX_PAGE_BYTES) return undefined
    files.push([rel, await fs.readFile(site.abs(rel))])
  }
  return { files, summary: prior.summary }
}

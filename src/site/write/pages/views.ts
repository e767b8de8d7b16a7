import type { ImageSummary } from '../../facts/image-summary.js'
import type { TagFacts } from '../../facts/tag-facts.js'
import { isIndexType } from '../../../oci/media-types.js'
import { urlOf } from '../../map.js'

/** What every page knows of its site. */
export interface SiteView {
  host: string
  v2: boolean
}

/** `1536` → `1.5 KiB`: one decimal from KiB up. */
export function sizeText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let n = bytes
  let u = 0
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024
    u++
  }
  return u === 0 ? `${bytes} B` : `${n.toFixed(1)} ${units[u]}`
}

/** An RFC 3339 time as `2024-01-02 03:04 UTC`, or the text as given when it does not parse. */
export function dateText(created: string): string {
  const t = Date.parse(created.replace(/(\.\d{3})\d+/, '$1'))
  return Number.isNaN(t) ? created : `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

const short = (digest: string) => `${digest.slice(0, digest.indexOf(':') + 13)}…`

const KIND_TEXT = { signature: 'Signature', sbom: 'SBOM', attestation: 'Attestation', other: 'Artifact' } as const
const ANNOTATION_LABELS: Record<string, string> = { title: 'Title', description: 'Description', version: 'Version', source: 'Source', revision: 'Revision', url: 'URL', documentation: 'Documentation', licenses: 'Licenses', vendor: 'Vendor', authors: 'Authors' }

/** The link to page `page` of the home page, or of an image's page. */
export const homeHref = (page: number) => urlOf({ kind: 'home', page })
export const imageHref = (imagePath: string, page = 1) => urlOf({ kind: 'page', repo: imagePath, page })

/** The last segment of an image path: the local name commands write to. */
export const localName = (imagePath: string) => imagePath.slice(imagePath.lastIndexOf('/') + 1)

/** One tag as tag.hbs shows it (`path`, `name` and `site` are there for the commands). */
export function tagView(facts: TagFacts, imagePath: string, site: SiteView) {
  return {
    site,
    path: imagePath,
    name: localName(imagePath),
    tag: facts.tag,
    digest: facts.digest,
    index: isIndexType(facts.mediaType),
    signed: facts.signed,
    artifactType: facts.artifactType,
    created: facts.created,
    createdText: facts.created === undefined ? undefined : dateText(facts.created),
    annotations: Object.entries(facts.annotations).map(([key, value]) => ({ label: ANNOTATION_LABELS[key] ?? key, value, link: /^https?:\/\/[^\s"<>]+$/.test(value) })),
    platforms: facts.manifests.map((m) => ({ name: m.platform ?? m.artifactType ?? 'unknown', size: m.compressedSize, sizeText: sizeText(m.compressedSize), digest: m.digest, short: short(m.digest) })),
    referrers: facts.referrers.map((r) => ({ kind: r.kind, kindText: KIND_TEXT[r.kind], type: r.artifactType ?? r.mediaType, digest: r.digest, short: short(r.digest) })),
  }
}

/** One row of the home page. */
export function imageRow(imagePath: string, summary: ImageSummary) {
  return {
    path: imagePath,
    href: imageHref(imagePath),
    tags: summary.tags,
    newest: summary.newest,
    size: summary.size,
    sizeText: sizeText(summary.size),
    lastChange: summary.lastChange,
    lastChangeText: summary.lastChange === undefined ? undefined : dateText(summary.lastChange),
  }
}

/** Links to the pages around `current` (1-based) of `count`: first, last, two either side, previous and next. */
export function pagination(current: number, count: number, href: (page: number) => string) {
  if (count <= 1) return undefined
  const links: Array<{ href?: string; label?: string; current?: boolean; rel?: string; gap?: boolean }> = []
  if (current > 1) links.push({ href: href(current - 1), label: 'Previous', rel: 'prev' })
  let last = 0
  for (let p = 1; p <= count; p++) {
    if (p !== 1 && p !== count && Math.abs(p - current) > 2) continue
    if (p > last + 1) links.push({ gap: true })
    links.push({ href: href(p), label: String(p), current: p === current })
    last = p
  }
  if (current < count) links.push({ href: href(current + 1), label: 'Next', rel: 'next' })
  return { current, count, links }
}

/**
 * Split rendered items into pages of at most `maxItems` and about `maxBytes` each (a page holds
 * at least one item), so no page grows past what a browser loads quickly.
 */
export function paginate(items: string[], maxItems: number, maxBytes: number): string[][] {
  const pages: string[][] = []
  let page: string[] = []
  let bytes = 0
  for (const item of items) {
    const size = Buffer.byteLength(item)
    if (page.length > 0 && (page.length >= maxItems || bytes + size > maxBytes)) {
      pages.push(page)
      page = []
      bytes = 0
    }
    page.push(item)
    bytes += size
  }
  if (page.length > 0 || pages.length === 0) pages.push(page)
  return pages
}

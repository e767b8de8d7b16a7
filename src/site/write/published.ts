import { promises as fs } from 'node:fs'
import { isOcisiteError, OcisiteError } from '../../errors.js'
import { writeFileAtomic } from '../../fs/atomic.js'
import { parseDescriptor, type Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import { canonicalBytes } from '../../oci/json.js'
import type { ProgressListener } from '../progress.js'
import type { ImageSummary } from '../facts/image-summary.js'
import { pathOf } from '../map.js'
import type { SitePaths } from '../site-paths.js'

const PUBLISHED = pathOf({ kind: 'state', name: 'published' })

/** How a site was built: what `add` and `rm` keep when they rewrite its documents. */
export interface SiteSettings {
  host: string
  baseUrl?: string
  v2: boolean
  headersFile: boolean
  /** Write the HTML pages (absent in a record made before pages existed: true). */
  html?: boolean
}

/** One image as the site publishes it: its tags (the oci-index entries) and the referrers riding along. */
export interface PublishedImage {
  path: string
  tags: Array<{ tag: string; entry: Descriptor }>
  referrers: Array<{ subject: string; manifests: Descriptor[] }>
  /** What its pages say of it (tag count, newest tag, size, last change), when the site has pages. */
  summary?: ImageSummary
}

/**
 * What a site publishes (`.ocisite/site.json`): its settings and every image's tags and
 * referrers. Every write records it after the blobs are in place and before the documents, so
 * after a crash it names what the site should publish, and the next `add` or `build` finishes it.
 */
export interface Published {
  settings: SiteSettings
  images: PublishedImage[]
  /** Referrers whose subject no image publishes yet: their blobs are in the site, unserved. */
  pending: Descriptor[]
}

/** The record as a JSON object (canonical when serialised): what `.ocisite/site.json` holds, and a bucket's record generation too. */
export function publishedDoc(published: Published): Record<string, unknown> {
  const settings: Record<string, unknown> = { host: published.settings.host, v2: published.settings.v2, headersFile: published.settings.headersFile }
  if (published.settings.baseUrl !== undefined) settings.baseUrl = published.settings.baseUrl
  if (published.settings.html === false) settings.html = false
  // A site with nothing waiting records no "pending" at all (as sites did before it existed).
  return { version: 1, settings, images: published.images, ...(published.pending.length > 0 ? { pending: published.pending } : {}) }
}

export async function savePublished(site: SitePaths, published: Published): Promise<void> {
  const bytes = canonicalBytes(publishedDoc(published))
  const file = site.abs(PUBLISHED)
  const current = await fs.readFile(file).catch(() => undefined)
  if (current?.equals(bytes)) return
  await writeFileAtomic(file, bytes)
}

/** Read a site's record of what it publishes; a directory without one is not a site `add` can update. */
export async function loadPublished(site: SitePaths): Promise<Published> {
  const file = site.abs(PUBLISHED)
  const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new OcisiteError('NOT_A_SITE', `${site.root} is not a site ocisite can update (no ${PUBLISHED}); make it with ocisite build first`, { file })
    }
    throw err
  })
  return parsePublished(bytes, file)
}

/** Parse a site record (`file` names it in errors). */
export function parsePublished(bytes: Buffer, file: string): Published {
  const bad = (why: string) => new OcisiteError('STATE_INVALID', `${file}: ${why}; rebuild the site with ocisite build`, { file })
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  } catch {
    throw bad('not JSON')
  }
  if (doc?.version !== 1) throw bad('not a version-1 site record')
  const s = doc.settings as Record<string, unknown> | undefined
  if (!s || typeof s.host !== 'string' || typeof s.v2 !== 'boolean' || typeof s.headersFile !== 'boolean' || (s.baseUrl !== undefined && typeof s.baseUrl !== 'string') || (s.html !== undefined && typeof s.html !== 'boolean')) throw bad('settings are invalid')
  if (!Array.isArray(doc.images)) throw bad('"images" is not an array')
  const images = doc.images.map((raw: unknown, i): PublishedImage => {
    const img = raw as Record<string, unknown>
    if (typeof img?.path !== 'string' || !Array.isArray(img.tags) || !Array.isArray(img.referrers)) throw bad(`images[${i}] is invalid`)
    return {
      path: img.path,
      tags: img.tags.map((t: Record<string, unknown>, j) => {
        if (typeof t?.tag !== 'string') throw bad(`images[${i}].tags[${j}] has no tag`)
        const { parsedDigest: _, ...entry } = parseDescriptor(t.entry, `${file} images[${i}].tags[${j}]`)
        return { tag: t.tag, entry }
      }),
      referrers: img.referrers.map((r: Record<string, unknown>, j) => {
        if (typeof r?.subject !== 'string' || !Array.isArray(r.manifests)) throw bad(`images[${i}].referrers[${j}] is invalid`)
        parseDigest(r.subject, `${file} images[${i}].referrers[${j}]`)
        return { subject: r.subject, manifests: r.manifests.map((m, k) => { const { parsedDigest: _, ...d } = parseDescriptor(m, `${file} images[${i}].referrers[${j}][${k}]`); return d }) }
      }),
      ...(summaryOf(img.summary) ? { summary: summaryOf(img.summary)! } : {}),
    }
  })
  if (doc.pending !== undefined && !Array.isArray(doc.pending)) throw bad('"pending" is not an array')
  const pending = ((doc.pending ?? []) as unknown[]).map((m, i) => {
    const { parsedDigest: _, ...d } = parseDescriptor(m, `${file} pending[${i}]`)
    return d
  })
  const settings: SiteSettings = { host: s.host, v2: s.v2, headersFile: s.headersFile }
  if (typeof s.baseUrl === 'string') settings.baseUrl = s.baseUrl
  if (s.html === false) settings.html = false
  return { settings, images, pending }
}

/** A recorded summary, if it is one (a damaged one only costs rendering that image's pages again). */
function summaryOf(raw: unknown): ImageSummary | undefined {
  const s = raw as Record<string, unknown> | undefined
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (typeof s !== 'object' || s === null || !count(s.tags) || !count(s.size) || !count(s.pages) || (s.pages as number) < 1) return undefined
  if ((s.newest !== undefined && typeof s.newest !== 'string') || (s.lastChange !== undefined && typeof s.lastChange !== 'string')) return undefined
  return { tags: s.tags as number, ...(typeof s.newest === 'string' ? { newest: s.newest } : {}), size: s.size as number, ...(typeof s.lastChange === 'string' ? { lastChange: s.lastChange } : {}), pages: s.pages as number }
}

/**
 * What a site published before a build, to name what the build unpublishes: undefined for a
 * new directory. A damaged record does not stop a build (which replaces it): a warning says
 * that what it unpublishes cannot be named.
 */
export async function publishedBefore(site: SitePaths, onProgress: ProgressListener | undefined): Promise<Published | undefined> {
  try {
    return await loadPublished(site)
  } catch (err) {
    if (!isOcisiteError(err) || (err.code !== 'NOT_A_SITE' && err.code !== 'STATE_INVALID')) throw err
    if (err.code === 'STATE_INVALID') onProgress?.({ type: 'warning', message: `${err.message.replace(/; rebuild the site with ocisite build$/, '')}: this build replaces it, and cannot name what it unpublishes` })
    return undefined
  }
}

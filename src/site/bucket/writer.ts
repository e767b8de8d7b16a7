import { randomUUID } from 'node:crypto'
import { OcisiteError } from '../../errors.js'
import { Bucket, parseBucketUrl, type BucketOptions } from '../../content/bucket-store.js'
import type { Fetcher } from '../../content/storage.js'
import { planSite, type SitePlan } from '../plan/plan.js'
import type { ProgressListener } from '../progress.js'
import type { Published } from '../write/published.js'
import type { DocumentSettings } from '../write/site-files.js'
import { bucketObjects, planDocuments, type BucketObject } from './objects.js'
import { markDone, probePreconditions, readHead, readRecord, type SiteRecord } from './record.js'
import { bucketBlobSource, bucketReader } from './source.js'
import { bucketPages } from './pages.js'
import type { ImageSummary } from '../facts/image-summary.js'
import { writeDocuments, type DocumentWrites } from './documents.js'

/** How to reach a bucket site and how to share it with other writers. */
export interface BucketSiteOptions extends BucketOptions {
  /** `s3://BUCKET[/PREFIX]`. */
  site: string
  /** The endpoint ignores preconditions, and the caller promises no other writer runs (a CI concurrency group). */
  singleWriter?: boolean
  /** How long a committed generation's documents may take before another writer finishes them (default 30 s). */
  leaseMs?: number
  /** Commits tried before giving up on a busy site (default 20). */
  attempts?: number
  concurrency?: number
  onProgress?: ProgressListener
}

/** How long a committed generation's documents (or a probe) may take: `--lease`. */
const DEFAULT_LEASE = 30_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Back-off with full jitter, so racing writers spread out. */
export const backoff = (attempt: number) => sleep(Math.random() * Math.min(2000, 50 * 2 ** attempt))

export function settingsOf(published: Published): DocumentSettings {
  const s = published.settings
  return { baseUrl: s.baseUrl, v2: s.v2, headersFile: s.headersFile, html: s.html !== false }
}

/** Open the bucket, and (once per run) check that it honours put-if-absent unless told there is one writer. */
export async function openBucketSite(options: BucketSiteOptions): Promise<Bucket> {
  const bucket = new Bucket(parseBucketUrl(options.site), options)
  if (!options.singleWriter && !(await probePreconditions(bucket, randomUUID(), options.leaseMs ?? DEFAULT_LEASE))) {
    throw new OcisiteError('CONFIG_INVALID', `${options.site}: the endpoint ignores If-None-Match (a second put-if-absent of a probe key succeeded), so concurrent writers could lose updates; serialise them (a CI concurrency group) and pass --single-writer`)
  }
  return bucket
}

/** What a generation publishes, planned again from its record (reads come from the record's copy of the documents). */
export async function planRecord(bucket: Bucket, record: SiteRecord | undefined, known: Map<string, Buffer>): Promise<SitePlan> {
  if (!record) return { images: [], pending: [], pendingNodes: new Map(), blobs: [], seen: [] }
  const source = bucketBlobSource(bucket, known)
  return planSite([], undefined, { label: bucket.where.url, images: record.published.images, pending: record.published.pending, store: source, force: false })
}

/** A generation's objects, planned from its record (reads come from the record's copy of the documents; its pages are the record's fingerprints, not rendered). */
export async function recordObjects(bucket: Bucket, record: SiteRecord | undefined, known: Map<string, Buffer>): Promise<{ plan: SitePlan; objects: Map<string, BucketObject> }> {
  const plan = await planRecord(bucket, record, known)
  if (!record) return { plan, objects: new Map() }
  const settings = settingsOf(record.published)
  const pages = settings.html ? { documents: [], kept: record.pages } : undefined
  return { plan, objects: await bucketObjects(plan, settings, await planDocuments(plan, known), bucket.where.url, pages) }
}

/**
 * The objects of a generation about to be written: the plan's documents, and its HTML pages
 * rendered against the generation before (`prior`): the images that changed, the home page and
 * the assets; the other images' pages are kept. Returns the manifests' bytes and the summaries
 * too (for the record).
 */
export async function nextObjects(bucket: Bucket, plan: SitePlan, published: Published, prior: SiteRecord | undefined, known: Map<string, Buffer>): Promise<{ objects: Map<string, BucketObject>; documents: Map<string, Buffer>; summaries?: Map<string, ImageSummary> }> {
  const documents = await planDocuments(plan, known)
  const settings = settingsOf(published)
  const pages = settings.html ? await bucketPages(bucketReader(bucket, plan, documents), plan, published, prior) : undefined
  const objects = await bucketObjects(plan, settings, documents, bucket.where.url, pages)
  return { objects, documents, ...(pages ? { summaries: pages.summaries } : {}) }
}

/** The newest generation whose documents are all out (finishing one a writer left, once its lease is over); undefined: no site yet. */
export async function settledRecord(bucket: Bucket, options: BucketSiteOptions): Promise<SiteRecord | undefined> {
  const lease = options.leaseMs ?? DEFAULT_LEASE
  for (;;) {
    const head = await readHead(bucket)
    if (head.generation === 0) return undefined
    if (!head.done) {
      const age = Date.now() - (head.modified?.getTime() ?? 0)
      if (age < lease) {
        await sleep(Math.min(250, lease - age) + Math.random() * 100)
        continue
      }
      options.onProgress?.({ type: 'warning', message: `${options.site}: generation ${head.generation} was committed ${Math.round(age / 1000)} s ago and its documents are not all out; finishing them` })
      await finishGeneration(bucket, head.generation, head.previous, options)
    }
    const record = await readRecord(bucket, head.generation)
    if (record) return record
  }
}

/** Write what generation n changed against n - 1 (all of it when n - 1 is gone), then mark it done. */
async function finishGeneration(bucket: Bucket, n: number, previous: boolean, options: BucketSiteOptions): Promise<DocumentWrites | undefined> {
  const record = await readRecord(bucket, n)
  if (!record) return undefined
  const before = previous ? await readRecord(bucket, n - 1) : undefined
  const known = new Map([...(before?.documents ?? []), ...record.documents])
  const old = await recordObjects(bucket, before, known)
  // The same bytes its writer rendered: the pages of what changed since n - 1, from its blobs (all in the bucket before n was committed).
  const now = await nextObjects(bucket, await planRecord(bucket, record, known), record.published, before, known)
  const writes = await writeDocuments(bucket, old.objects, now.objects, options.concurrency ?? 8)
  await markDone(bucket, n)
  return writes
}

export type { Fetcher }

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
import { bucketBlobSource } from './source.js'
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Back-off with full jitter, so racing writers spread out. */
export const backoff = (attempt: number) => sleep(Math.random() * Math.min(2000, 50 * 2 ** attempt))

export function settingsOf(published: Published): DocumentSettings {
  const s = published.settings
  return { baseUrl: s.baseUrl, v2: s.v2, headersFile: s.headersFile, html: false }
}

/** Open the bucket, and (once per run) check that it honours put-if-absent unless told there is one writer. */
export async function openBucketSite(options: BucketSiteOptions): Promise<Bucket> {
  const bucket = new Bucket(parseBucketUrl(options.site), options)
  if (!options.singleWriter && !(await probePreconditions(bucket, randomUUID()))) {
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

/** A generation's objects, planned from its record. */
export async function recordObjects(bucket: Bucket, record: SiteRecord | undefined, known: Map<string, Buffer>): Promise<{ plan: SitePlan; objects: Map<string, BucketObject> }> {
  const plan = await planRecord(bucket, record, known)
  if (!record) return { plan, objects: new Map() }
  return { plan, objects: await bucketObjects(plan, settingsOf(record.published), await planDocuments(plan, known), bucket.where.url) }
}

/** The newest generation whose documents are all out (finishing one a writer left, once its lease is over); undefined: no site yet. */
export async function settledRecord(bucket: Bucket, options: BucketSiteOptions): Promise<SiteRecord | undefined> {
  const lease = options.leaseMs ?? 30_000
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
  const [old, now] = [await recordObjects(bucket, before, known), await recordObjects(bucket, record, known)]
  const writes = await writeDocuments(bucket, old.objects, now.objects, options.concurrency ?? 8)
  await markDone(bucket, n)
  return writes
}

export type { Fetcher }

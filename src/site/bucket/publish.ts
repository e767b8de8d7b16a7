import { OcisiteError } from '../../errors.js'
import type { Fetcher } from '../../content/storage.js'
import { publishedOf, type SitePlan } from '../plan/plan.js'
import type { Published } from '../write/published.js'
import { changesBetween } from '../write/site-changes.js'
import { resultOf, type BuildResult } from '../write/write-result.js'
import { unreferencedAfter, uploadBlobs, writeDocuments } from './documents.js'
import { pageFingerprints } from './pages.js'
import { withSummaries } from '../write/pages/pages.js'
import { commitRecord, markDone, type SiteRecord } from './record.js'
import { bucketBlobSource } from './source.js'
import { backoff, nextObjects, openBucketSite, recordObjects, settledRecord, type BucketSiteOptions } from './writer.js'

/** What a write into a bucket did: a build's result, the requests it cost, and the mutable keys it changed (for a CDN). */
export interface BucketWriteResult extends BuildResult {
  requests: number
  /** Mutable keys written or deleted (indexes, tags, tag lists, catalog, the well-known document), below the prefix. */
  changed: string[]
  generation: number
}

/** Plan what the site publishes next from what it publishes now (read back through `source`). */
export type Replan = (published: Published, source: Fetcher) => Promise<SitePlan>

/** `--host` and `--no-html` start a site; given for a site with other settings, they are refused rather than ignored. */
function checkSettings(options: { site: string; host?: string; html?: boolean }, published: Published): void {
  const s = published.settings
  if (options.host !== undefined && options.host.toLowerCase() !== s.host.toLowerCase()) throw new OcisiteError('CONFIG_INVALID', `--host ${options.host}: ${options.site} is already a site for ${s.host}; leave --host out (it only starts a site)`)
  if (options.html === false && s.html !== false) throw new OcisiteError('CONFIG_INVALID', `--no-html: ${options.site} is already a site with HTML pages; leave --no-html out (it only starts a site)`)
}

/** A bucket without a record becomes a site with these settings (`add --host`). */
function newSite(options: { site: string; host?: string; html?: boolean; starts?: boolean }): Published {
  if (!options.starts) throw new OcisiteError('NOT_A_SITE', `${options.site} holds no ocisite site record, so there is nothing to remove; start one with ocisite add INPUT --site ${options.site} --host HOST`)
  if (!options.host) throw new OcisiteError('NOT_A_SITE', `${options.site} holds no ocisite site record; pass --host HOST to start a site in it`)
  return { settings: { host: options.host, v2: true, headersFile: false, ...(options.html === false ? { html: false } : {}) }, images: [], pending: [] }
}

/**
 * Publish into a bucket without a lock server: read the newest settled generation of the site
 * record, plan, upload the new blobs, commit generation n + 1 with put-if-absent, and only then
 * write the documents that changed. A lost commit re-reads, re-plans and tries again (bounded,
 * with jitter), keeping the blobs it already uploaded. README: "Publishing into a bucket".
 */
export async function publishToBucket(options: BucketSiteOptions & { host?: string; html?: boolean; starts?: boolean }, replan: Replan): Promise<BucketWriteResult> {
  const bucket = await openBucketSite(options)
  const url = bucket.where.url
  const concurrency = options.concurrency ?? 8
  const uploaded = new Set<string>()
  const attempts = options.attempts ?? 20
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const record = await settledRecord(bucket, options)
    if (record) checkSettings(options, record.published)
    const published = record?.published ?? newSite(options)
    const known = new Map(record?.documents ?? [])
    const old = await recordObjects(bucket, record, known)
    const plan = await replan(published, bucketBlobSource(bucket, known))
    const { objects, documents, summaries } = await nextObjects(bucket, plan, published, record, known)
    const blobs = await uploadBlobs(bucket, old.objects, objects, record?.unreferenced ?? [], uploaded, concurrency)
    const next: SiteRecord = { generation: (record?.generation ?? 0) + 1, published: withSummaries(publishedOf(plan, published.settings), summaries), unreferenced: unreferencedAfter(record?.unreferenced ?? [], old.objects, objects, new Date().toISOString()), documents, pages: pageFingerprints(objects) }
    if (!(await commitRecord(bucket, next))) {
      options.onProgress?.({ type: 'waiting', message: `${url}: generation ${next.generation} was taken by another writer; planning again` })
      await backoff(attempt)
      continue
    }
    const writes = await writeDocuments(bucket, old.objects, objects, concurrency)
    await markDone(bucket, next.generation)
    // Counted as a build counts them: the plan's blobs (generated referrers indexes aside).
    const written = plan.blobs.filter((b) => blobs.written.has(b.digest.value))
    const outcome = { blobs: { written: written.length, skipped: plan.blobs.length - written.length, hashed: 0, bytesWritten: written.reduce((n, b) => n + b.size, 0) }, documents: { written: writes.written, unchanged: writes.unchanged }, deleted: writes.deleted, changes: changesBetween(published.images, plan.images) }
    return { ...resultOf(url, published.settings.host, plan, outcome, false), requests: bucket.requests, changed: writes.changed, generation: next.generation }
  }
  throw new OcisiteError('SITE_LOCKED', `${url}: ${attempts} commits in a row were taken by other writers; try again later`)
}

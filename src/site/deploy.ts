import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { mapLimit } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import { parseDigest } from '../oci/digest.js'
import type { Descriptor } from '../oci/descriptor.js'
import { MediaType } from '../oci/media-types.js'
import { Bucket, BucketStore, parseBucketUrl, type BucketOptions, type ListedObject } from '../content/bucket-store.js'
import { copyGraph } from '../content/copy.js'
import { CopyProgress } from '../content/progress.js'
import { siteStore } from './write/site-store.js'
import type { ProgressListener } from './progress.js'
import { inDeleteOrder, planObjects, type PlannedObject, type SiteSource } from './serve/bucket-objects.js'
import { bucketKeyOf, ownsKey, pathOf } from './map.js'
import { SitePaths } from './site-paths.js'
import { OwnedRecord } from './write/site-state.js'
import { pushAll } from '../arrays.js'

export interface DeployOptions extends BucketOptions {
  /** The built site directory. */
  site: string
  /** `s3://BUCKET[/PREFIX]`. */
  target: string
  /** Objects uploaded at once (default 8). */
  concurrency?: number
  /** Remove objects the site no longer has (only under ocisite's own key prefixes), after the documents are switched. */
  delete?: boolean
  /** Plan and report; change nothing. */
  dryRun?: boolean
  /** The website endpoint's index document suffix, which answers `/v2/` (default index.html). */
  indexDocument?: string
  cwd?: string
  onProgress?: ProgressListener
}

export interface DeployResult {
  target: string
  dryRun: boolean
  objects: { total: number; uploaded: number; unchanged: number; deleted: number }
  bytesUploaded: number
  /** Keys (relative to the prefix) uploaded, in upload order. */
  uploaded: string[]
  deleted: string[]
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex')
}

/**
 * Copy a built site into a bucket: blobs first, then manifests and /v2/, then indexes, the
 * well-known document last, so a consumer never sees a document that names a missing object.
 * Incremental: one listing, then only missing or changed objects go up.
 */
export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const where = parseBucketUrl(options.target)
  const site = new SitePaths(path.resolve(options.cwd ?? process.cwd(), options.site))
  const wellKnown = pathOf({ kind: 'well-known' })
  if (!(await fs.stat(site.abs(wellKnown)).catch(() => undefined))) {
    throw new OcisiteError('INPUT_NOT_FOUND', `${site.root}: not a built site (no ${wellKnown}); run ocisite build first`, { file: site.root })
  }
  const record = await OwnedRecord.load(site)
  if (record.files.size === 0) throw new OcisiteError('NOT_A_SITE', `${site.root}: no record of the site's files (${pathOf({ kind: 'state', name: 'owned' })}); rebuild it with ocisite build`)
  const indexDocument = options.indexDocument ?? 'index.html'
  const source: SiteSource = { label: site.root, files: site, size: async (rel) => (await fs.stat(site.abs(rel))).size, read: (rel) => fs.readFile(site.abs(rel)) }
  const objects = await planObjects(source, record.files, indexDocument)
  const bucket = new Bucket(where, options)
  const listing = await bucket.list()
  const result: DeployResult = { target: options.target, dryRun: !!options.dryRun, objects: { total: objects.length, uploaded: 0, unchanged: 0, deleted: 0 }, bytesUploaded: 0, uploaded: [], deleted: [] }

  const cas = new BucketStore(bucket, listing, (desc) => bucketKeyOf({ kind: 'blob', digest: parseDigest(desc.digest) }), headersOf(objects.find((o) => o.entry.kind === 'blob')))
  const { toUpload, bodies } = await decideUploads(site, objects, listing, cas)
  const planned = new Set(objects.map((o) => o.key))
  // The root index.html is ocisite's only while the site has pages.
  const html = record.files.has(pathOf({ kind: 'home', page: 1 }))
  const stale = [...listing.keys()].filter((k) => !planned.has(k) && ownsKey(k, html))
  result.objects.unchanged = objects.length - toUpload.length
  if (options.dryRun) {
    result.uploaded = toUpload.map((o) => o.key)
    result.objects.uploaded = toUpload.length
    result.bytesUploaded = toUpload.reduce((n, o) => n + o.size, 0)
    if (options.delete) result.deleted = inDeleteOrder(stale, indexDocument).flat()
    result.objects.deleted = result.deleted.length
    return result
  }
  await upload({ site, bucket, cas, toUpload, bodies, result, concurrency: options.concurrency ?? 8, onProgress: options.onProgress })

  // Only now that every document is switched: what the site no longer has, documents before the objects they named.
  if (options.delete && stale.length > 0) {
    for (const batch of inDeleteOrder(stale, indexDocument)) {
      await bucket.remove(batch)
      pushAll(result.deleted, batch)
    }
    result.objects.deleted = result.deleted.length
  }
  return result
}

/** A blob object's descriptor: an opaque blob, copied as bytes. */
function blobOf(o: PlannedObject): Descriptor {
  return { mediaType: MediaType.octetStream, digest: o.digest!.value, size: o.size }
}

function headersOf(o: PlannedObject | undefined): { contentType: string; cacheControl: string } {
  return { contentType: o?.contentType ?? '', cacheControl: o?.cacheControl ?? '' }
}

/**
 * What goes up: blobs by the bucket store's policy (a content-addressed object of the right
 * size), other content-addressed objects by size, documents by their MD5 (the ETag of a single PUT).
 */
async function decideUploads(site: SitePaths, objects: PlannedObject[], listing: Map<string, ListedObject>, cas: BucketStore): Promise<{ toUpload: PlannedObject[]; bodies: Map<string, Buffer> }> {
  const bodies = new Map<string, Buffer>()
  const needed = await mapLimit(objects, 32, async (o) => {
    if (o.entry.kind === 'blob') return !(await cas.exists(blobOf(o)))
    const have: ListedObject | undefined = listing.get(o.key)
    if (o.immutable) return !have || have.size !== o.size
    const bytes = await fs.readFile(site.abs(o.file!))
    bodies.set(o.key, bytes)
    return !have || have.size !== bytes.byteLength || have.etag !== md5(bytes)
  })
  return { toUpload: objects.filter((_, i) => needed[i]), bodies }
}

interface Upload {
  site: SitePaths
  bucket: Bucket
  cas: BucketStore
  toUpload: PlannedObject[]
  bodies: Map<string, Buffer>
  result: DeployResult
  concurrency: number
  onProgress: ProgressListener | undefined
}

/**
 * Phase by phase; within one, objects go up concurrently. Blobs move through the content layer's
 * one copy (the site's CAS into the bucket's), verified on the way like every other copy.
 */
async function upload(u: Upload): Promise<void> {
  const blobs = u.toUpload.filter((o) => o.entry.kind === 'blob')
  const progress = new CopyProgress(blobs.length, blobs.reduce((n, o) => n + o.size, 0), u.onProgress)
  const finished = (o: PlannedObject) => {
    u.result.uploaded.push(o.key)
    u.result.objects.uploaded++
    u.result.bytesUploaded += o.size
  }
  for (const phase of [...new Set(u.toUpload.map((o) => o.phase))].sort((a, b) => a - b)) {
    const batch = u.toUpload.filter((o) => o.phase === phase)
    if (batch[0]!.entry.kind === 'blob') {
      const byDigest = new Map(batch.map((o) => [o.digest!.value, o]))
      await copyGraph(siteStore(u.site), u.cas, batch.map(blobOf), {
        concurrency: u.concurrency,
        ...progress.hooks,
        onCopied: (desc) => {
          progress.finished(desc, 'copied')
          finished(byDigest.get(desc.digest)!)
        },
      })
      continue
    }
    await mapLimit(batch, u.concurrency, async (o) => {
      const body = o.redirect !== undefined ? Buffer.alloc(0) : (u.bodies.get(o.key) ?? (await fs.readFile(u.site.abs(o.file!))))
      await u.bucket.put(o.key, body, { contentType: o.contentType, cacheControl: o.cacheControl, ...(o.redirect ? { redirect: o.redirect } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) })
      finished(o)
    })
  }
}

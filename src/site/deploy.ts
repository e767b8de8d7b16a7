import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { mapLimit } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import { parseDigest, type Digest } from '../oci/digest.js'
import type { Descriptor } from '../oci/descriptor.js'
import { manifestKinds, MediaType } from '../oci/media-types.js'
import { Bucket, BucketStore, parseBucketUrl, type BucketOptions, type ListedObject } from '../content/bucket-store.js'
import { copyGraph } from '../content/copy.js'
import { walk } from '../content/graph.js'
import { CopyProgress } from '../content/progress.js'
import { siteStore } from './write/site-store.js'
import type { ProgressListener } from './progress.js'
import { resolveRequest } from './serve/route-resolver.js'
import { siteRoutes } from './serve/routes.js'
import { bucketKeyOf, deleteRank, entryOf, entryOfKey, ownsKey, pathOf, phaseOf, urlOf, type ServedEntry } from './map.js'
import { SitePaths } from './site-paths.js'
import { OwnedRecord } from './write/site-state.js'
import { maxOf, pushAll } from '../arrays.js'

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

/** One object of a bucket site: its key (the request path), headers, and where its bytes come from. */
interface PlannedObject {
  key: string
  entry: ServedEntry
  /** Upload phase (the site map's): what an object names always goes up in an earlier phase. */
  phase: number
  contentType: string
  cacheControl: string
  /** A site file, or (for a blob's /v2/ URL) a redirect into the CAS. */
  file?: string
  redirect?: string
  /** Content-addressed: present with the right size means present. */
  immutable: boolean
  /** Headers S3 cannot send, kept as `x-amz-meta-*` metadata for a CDN to send (the pages' Content-Security-Policy). */
  metadata?: Record<string, string>
  digest?: Digest
  size: number
}

/** Manifests by digest go up children first: an index's phase is above every manifest it lists (`phase + depth / 100`). */
const MANIFEST_PHASE = phaseOf({ kind: 'manifest' })

type BlobLink = Extract<ServedEntry, { kind: 'blob-link' }>

/**
 * Each repository's manifests walked in the site's CAS, children first: an index goes up a level
 * above the highest manifest it lists (by bucket key); a manifest's config and layers are served
 * under the repository as redirects into the CAS.
 */
async function manifestLevels(site: SitePaths, manifests: Map<string, Descriptor[]>): Promise<{ levels: Map<string, number>; links: Map<string, BlobLink> }> {
  const cas = siteStore(site)
  const levels = new Map<string, number>()
  const links = new Map<string, BlobLink>()
  for (const [repo, roots] of manifests) {
    const level = new Map<string, number>()
    for (const node of (await walk(cas, roots)).postOrder) {
      if (node.kind === 'blob') continue
      const below = node.kind === 'index' ? maxOf(node.children.map((c) => (level.get(c.digest) ?? -1) + 1), 0) : 0
      level.set(node.descriptor.digest, below)
      levels.set(bucketKeyOf({ kind: 'manifest', repo, digest: parseDigest(node.descriptor.digest) }), below)
      if (node.kind !== 'manifest') continue
      for (const c of node.children) {
        const link = { kind: 'blob-link', repo, digest: parseDigest(c.digest) } as const
        links.set(bucketKeyOf(link), link)
      }
    }
  }
  return { levels, links }
}

/**
 * Map a site directory onto bucket keys. Each key is the URL path a consumer requests, and its
 * Content-Type and Cache-Control come from the route table that also drives nginx and `serve`
 * (each key is resolved through it, so the bucket answers as nginx does).
 */
async function planObjects(site: SitePaths, files: Set<string>, indexDocument: string): Promise<PlannedObject[]> {
  const v2 = files.has(pathOf({ kind: 'v2-base' }))
  const routes = siteRoutes({ v2 })
  const out: PlannedObject[] = []
  const add = async (entry: ServedEntry, immutable: boolean) => {
    const requestPath = urlOf(entry)
    const key = bucketKeyOf(entry, indexDocument)
    const r = await resolveRequest(site, routes, requestPath)
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.root}: ${requestPath} does not resolve to a file of the site (is the site complete? run ocisite build or verify)`, { path: requestPath })
    const file = site.abs(r.file.replace(/^\/+/, ''))
    const st = await fs.stat(file)
    const csp = r.headers['Content-Security-Policy']
    out.push({ key, entry, phase: phaseOf(entry), contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, file, immutable, size: st.size, ...(entry.kind === 'blob' ? { digest: entry.digest } : {}), ...(csp ? { metadata: { 'content-security-policy': csp } } : {}) })
  }
  const manifests = new Map<string, Descriptor[]>()
  for (const rel of [...files].sort()) {
    const entry = entryOf(rel)
    // A file that is not served (`_headers`, ocisite's records) is no object of the bucket.
    if (!entry || entry.kind === 'headers' || entry.kind === 'state') continue
    await add(entry, entry.kind === 'blob' || entry.kind === 'manifest')
    if (entry.kind !== 'manifest') continue
    const list = manifests.get(entry.repo) ?? []
    list.push({ mediaType: manifestKinds[entry.manifestKind], digest: entry.digest.value, size: out.at(-1)!.size })
    manifests.set(entry.repo, list)
  }
  const { levels, links } = await manifestLevels(site, manifests)
  for (const o of out) if (o.phase === MANIFEST_PHASE) o.phase += Math.min(levels.get(o.key) ?? 0, 99) / 100
  for (const [key, link] of [...links].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const r = await resolveRequest(site, routes, urlOf(link))
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.root}: blob ${link.digest.value} of ${link.repo} is missing from the site; rebuild it`, { digest: link.digest.value })
    out.push({ key, entry: link, phase: phaseOf(link), contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, redirect: urlOf({ kind: 'blob', digest: link.digest }), immutable: true, size: 0 })
  }
  return out.sort((a, b) => a.phase - b.phase || (a.key < b.key ? -1 : 1))
}

/** A blob object's descriptor: an opaque blob, copied as bytes. */
function blobOf(o: PlannedObject): Descriptor {
  return { mediaType: MediaType.octetStream, digest: o.digest!.value, size: o.size }
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
  const objects = await planObjects(site, record.files, indexDocument)
  const bucket = new Bucket(where, options)
  const listing = await bucket.list()
  const result: DeployResult = { target: options.target, dryRun: !!options.dryRun, objects: { total: objects.length, uploaded: 0, unchanged: 0, deleted: 0 }, bytesUploaded: 0, uploaded: [], deleted: [] }

  // Decide what goes up: blobs by the bucket store's policy (a content-addressed object of the
  // right size), other content-addressed objects by size, documents by their MD5 (the ETag of a
  // single PUT).
  const blobs = objects.filter((o) => o.entry.kind === 'blob')
  const cas = new BucketStore(bucket, listing, (desc) => bucketKeyOf({ kind: 'blob', digest: parseDigest(desc.digest) }), { contentType: blobs[0]?.contentType ?? '', cacheControl: blobs[0]?.cacheControl ?? '' })
  const bodies = new Map<string, Buffer>()
  const needed = await mapLimit(objects, 32, async (o) => {
    if (o.entry.kind === 'blob') return !(await cas.exists(blobOf(o)))
    const have: ListedObject | undefined = listing.get(o.key)
    if (o.immutable) return !have || have.size !== o.size
    const bytes = await fs.readFile(o.file!)
    bodies.set(o.key, bytes)
    return !have || have.size !== bytes.byteLength || have.etag !== md5(bytes)
  })
  const planned = new Set(objects.map((o) => o.key))
  // The root index.html is ocisite's only while the site has pages.
  const html = record.files.has(pathOf({ kind: 'home', page: 1 }))
  const stale = [...listing.keys()].filter((k) => !planned.has(k) && ownsKey(k, html))
  const toUpload = objects.filter((_, i) => needed[i])
  result.objects.unchanged = objects.length - toUpload.length
  if (options.dryRun) {
    result.uploaded = toUpload.map((o) => o.key)
    result.objects.uploaded = toUpload.length
    result.bytesUploaded = toUpload.reduce((n, o) => n + o.size, 0)
    if (options.delete) result.deleted = inDeleteOrder(stale, indexDocument).flat()
    result.objects.deleted = result.deleted.length
    return result
  }

  const concurrency = options.concurrency ?? 8
  const finished = (o: PlannedObject) => {
    result.uploaded.push(o.key)
    result.objects.uploaded++
    result.bytesUploaded += o.size
  }
  // Phase by phase; within one, objects go up concurrently. Blobs move through the content
  // stores (the site's CAS → the bucket's), verified on the way like every other copy.
  for (const phase of [...new Set(toUpload.map((o) => o.phase))].sort((a, b) => a - b)) {
    const batch = toUpload.filter((o) => o.phase === phase)
    if (batch[0]!.entry.kind === 'blob') {
      const byDigest = new Map(batch.map((o) => [o.digest!.value, o]))
      const progress = new CopyProgress(batch.length, batch.reduce((n, o) => n + o.size, 0), options.onProgress)
      await copyGraph(siteStore(site), cas, batch.map(blobOf), {
        concurrency,
        ...progress.hooks,
        onCopied: (desc) => {
          progress.finished(desc, 'copied')
          finished(byDigest.get(desc.digest)!)
        },
      })
      continue
    }
    await mapLimit(batch, concurrency, async (o) => {
      const body = o.redirect !== undefined ? Buffer.alloc(0) : (bodies.get(o.key) ?? (await fs.readFile(o.file!)))
      await bucket.put(o.key, body, { contentType: o.contentType, cacheControl: o.cacheControl, ...(o.redirect ? { redirect: o.redirect } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) })
      finished(o)
    })
  }

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

/**
 * Stale keys in batches, by the site map's delete rank (documents before what they name), each
 * sorted. A key of ours the map cannot read (say, an index document of another name) goes last.
 */
function inDeleteOrder(keys: string[], indexDocument: string): string[][] {
  const batches = new Map<number, string[]>()
  for (const key of [...keys].sort()) {
    const entry = entryOfKey(key, indexDocument)
    const rank = entry ? deleteRank(entry) : Infinity
    const batch = batches.get(rank)
    if (batch) batch.push(key)
    else batches.set(rank, [key])
  }
  return [...batches].sort(([a], [b]) => a - b).map(([, batch]) => batch)
}

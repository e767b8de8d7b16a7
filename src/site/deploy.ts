import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { mapLimit } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import { parseDigest, type Digest } from '../oci/digest.js'
import type { Descriptor } from '../oci/descriptor.js'
import { manifestKinds, MediaType, type ManifestKind } from '../oci/media-types.js'
import { Bucket, BucketStore, parseBucketUrl, type BucketOptions, type ListedObject } from '../content/bucket-store.js'
import { copyGraph } from '../content/copy.js'
import { walk } from '../content/graph.js'
import { CopyProgress } from '../content/progress.js'
import { siteStore } from './write/site-store.js'
import type { ProgressListener } from './progress.js'
import { resolveRequest } from './serve/route-resolver.js'
import { siteRoutes } from './serve/routes.js'
import { SiteLayout, SitePaths } from './map.js'
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
  /** Upload phase: what an object names always goes up in an earlier phase. */
  phase: number
  contentType: string
  cacheControl: string
  /** A site file, or (for a blob's /v2/ URL) a redirect into the CAS. */
  file?: string
  redirect?: string
  /** Content-addressed: present with the right size means present. */
  immutable: boolean
  digest?: Digest
  size: number
}

/**
 * Upload phases, in order. Manifests by digest go up children first: an index's phase is above
 * every manifest it lists (`manifest + depth / 100`).
 */
const Phase = { blob: 0, redirect: 1, manifest: 2, tag: 3, tagList: 4, siteWide: 5, index: 6, wellKnown: 7 } as const

/** A key ocisite owns in a bucket; `--delete` never touches anything else. */
const ownedKey = (key: string) => SiteLayout.bucketOwned.some((k) => (k.endsWith('/') ? key.startsWith(k) : key === k))

/**
 * Map a site directory onto bucket keys. Each key is the URL path a consumer requests, and its
 * Content-Type and Cache-Control come from the route table that also drives nginx and `serve`
 * (each key is resolved through it, so the bucket answers as nginx does).
 */
async function planObjects(site: SitePaths, files: Set<string>, indexDocument: string): Promise<PlannedObject[]> {
  const v2 = files.has(SiteLayout.v2Base)
  const routes = siteRoutes({ v2 })
  const out: PlannedObject[] = []
  const add = async (key: string, requestPath: string, phase: number, immutable: boolean, extra: Partial<PlannedObject> = {}) => {
    const r = await resolveRequest(site, routes, requestPath)
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.root}: ${requestPath} does not resolve to a file of the site (is the site complete? run ocisite build or verify)`, { path: requestPath })
    const file = site.abs(r.file.replace(/^\/+/, ''))
    const st = await fs.stat(file)
    out.push({ key, phase, contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, file, immutable, size: st.size, ...extra })
  }
  const blobRedirects = new Map<string, { repo: string; digest: string }>()
  const manifests = new Map<string, Descriptor[]>()
  for (const rel of [...files].sort()) {
    let m: RegExpExecArray | null
    if (rel === SiteLayout.wellKnown) await add(rel, `/${rel}`, Phase.wellKnown, false)
    else if (rel.startsWith(`${SiteLayout.indexDir}/`)) await add(rel, `/${rel}`, Phase.index, false)
    else if ((m = /^oci-cas\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(rel))) await add(rel, `/${rel}`, Phase.blob, true, { digest: parseDigest(`${m[1]}:${m[2]}`) })
    else if (rel === SiteLayout.v2Base) await add(`v2/${indexDocument}`, '/v2/', Phase.siteWide, false)
    else if (rel === SiteLayout.v2Catalog) await add('v2/_catalog', '/v2/_catalog', Phase.siteWide, false)
    else if ((m = /^v2\/(.+)\/_tags\.json$/.exec(rel))) await add(`v2/${m[1]}/tags/list`, `/v2/${m[1]}/tags/list`, Phase.tagList, false)
    else if ((m = /^v2\/(.+)\/_tags\/([^/]+)\.([a-z-]+)$/.exec(rel))) await add(`v2/${m[1]}/manifests/${m[2]}`, `/v2/${m[1]}/manifests/${m[2]}`, Phase.tag, false)
    else if ((m = /^v2\/(.+)\/_referrers\/(sha256|sha512)\/([0-9a-f]+)\.json$/.exec(rel))) await add(`v2/${m[1]}/referrers/${m[2]}:${m[3]}`, `/v2/${m[1]}/referrers/${m[2]}:${m[3]}`, Phase.tag, false)
    else if ((m = /^v2\/(.+)\/_manifests\/(sha256|sha512)\/([0-9a-f]+)\.([a-z-]+)$/.exec(rel))) {
      const [, repo, algorithm, hex, kind] = m as unknown as [string, string, string, string, ManifestKind]
      await add(`v2/${repo}/manifests/${algorithm}:${hex}`, `/v2/${repo}/manifests/${algorithm}:${hex}`, Phase.manifest, true)
      const list = manifests.get(repo) ?? []
      list.push({ mediaType: manifestKinds[kind], digest: `${algorithm}:${hex}`, size: out.at(-1)!.size })
      manifests.set(repo, list)
    }
  }
  const cas = siteStore(site)
  const levels = new Map<string, number>()
  for (const [repo, roots] of manifests) {
    // Children first: an index goes up after the manifests it lists, a level above the highest.
    const level = new Map<string, number>()
    for (const node of (await walk(cas, roots)).postOrder) {
      if (node.kind === 'blob') continue
      const below = node.kind === 'index' ? maxOf(node.children.map((c) => (level.get(c.digest) ?? -1) + 1), 0) : 0
      level.set(node.descriptor.digest, below)
      levels.set(`v2/${repo}/manifests/${node.descriptor.digest}`, below)
      // A manifest's config and layers are served under the repository as redirects into the CAS.
      if (node.kind === 'manifest') for (const c of node.children) blobRedirects.set(`v2/${repo}/blobs/${c.digest}`, { repo, digest: c.digest })
    }
  }
  for (const o of out) if (o.phase === Phase.manifest) o.phase += Math.min(levels.get(o.key) ?? 0, 99) / 100
  for (const [key, { repo, digest }] of [...blobRedirects].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const d = parseDigest(digest, key)
    const r = await resolveRequest(site, routes, `/v2/${repo}/blobs/${d.value}`)
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.root}: blob ${d.value} of ${repo} is missing from the site; rebuild it`, { digest: d.value })
    out.push({ key, phase: Phase.redirect, contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, redirect: `/${SiteLayout.blob(d)}`, immutable: true, size: 0 })
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
  if (!(await fs.stat(site.abs(SiteLayout.wellKnown)).catch(() => undefined))) {
    throw new OcisiteError('INPUT_NOT_FOUND', `${site.root}: not a built site (no ${SiteLayout.wellKnown}); run ocisite build first`, { file: site.root })
  }
  const record = await OwnedRecord.load(site)
  if (record.files.size === 0) throw new OcisiteError('NOT_A_SITE', `${site.root}: no record of the site's files (${SiteLayout.ownedRecord}); rebuild it with ocisite build`)
  const objects = await planObjects(site, record.files, options.indexDocument ?? 'index.html')
  const bucket = new Bucket(where, options)
  const listing = await bucket.list()
  const result: DeployResult = { target: options.target, dryRun: !!options.dryRun, objects: { total: objects.length, uploaded: 0, unchanged: 0, deleted: 0 }, bytesUploaded: 0, uploaded: [], deleted: [] }

  // Decide what goes up: blobs by the bucket store's policy (a content-addressed object of the
  // right size), other content-addressed objects by size, documents by their MD5 (the ETag of a
  // single PUT).
  const blobs = objects.filter((o) => o.phase === Phase.blob)
  const cas = new BucketStore(bucket, listing, (desc) => SiteLayout.blob(parseDigest(desc.digest)), { contentType: blobs[0]?.contentType ?? '', cacheControl: blobs[0]?.cacheControl ?? '' })
  const bodies = new Map<string, Buffer>()
  const needed = await mapLimit(objects, 32, async (o) => {
    if (o.phase === Phase.blob) return !(await cas.exists(blobOf(o)))
    const have: ListedObject | undefined = listing.get(o.key)
    if (o.immutable) return !have || have.size !== o.size
    const bytes = await fs.readFile(o.file!)
    bodies.set(o.key, bytes)
    return !have || have.size !== bytes.byteLength || have.etag !== md5(bytes)
  })
  const planned = new Set(objects.map((o) => o.key))
  const stale = [...listing.keys()].filter((k) => !planned.has(k) && ownedKey(k))
  const toUpload = objects.filter((_, i) => needed[i])
  result.objects.unchanged = objects.length - toUpload.length
  if (options.dryRun) {
    result.uploaded = toUpload.map((o) => o.key)
    result.objects.uploaded = toUpload.length
    result.bytesUploaded = toUpload.reduce((n, o) => n + o.size, 0)
    if (options.delete) result.deleted = stale.sort(deleteOrder)
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
    if (phase === Phase.blob) {
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
      await bucket.put(o.key, body, { contentType: o.contentType, cacheControl: o.cacheControl, ...(o.redirect ? { redirect: o.redirect } : {}) })
      finished(o)
    })
  }

  // Only now that every document is switched: what the site no longer has, documents before the objects they named.
  if (options.delete && stale.length > 0) {
    const ordered = stale.sort(deleteOrder)
    for (const rank of [0, 1, 2, 3, 4, 5, 6]) {
      const batch = ordered.filter((k) => deleteRank(k) === rank)
      if (batch.length === 0) continue
      await bucket.remove(batch)
      pushAll(result.deleted, batch)
    }
    result.objects.deleted = result.deleted.length
  }
  return result
}

function deleteRank(key: string): number {
  if (key === SiteLayout.wellKnown) return 0
  if (key.startsWith(`${SiteLayout.indexDir}/`)) return 1
  if (key === 'v2/_catalog' || /^v2\/[^/]*$/.test(key)) return 2
  if (key.endsWith('/tags/list')) return 3
  if (/\/manifests\/[^/:]+$/.test(key) || key.includes('/referrers/')) return 4
  if (key.startsWith(`${SiteLayout.v2Dir}/`)) return 5
  return 6
}

function deleteOrder(a: string, b: string): number {
  return deleteRank(a) - deleteRank(b) || (a < b ? -1 : 1)
}

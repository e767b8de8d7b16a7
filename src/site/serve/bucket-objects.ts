import { OcisiteError } from '../../errors.js'
import { parseDigest, type Digest } from '../../oci/digest.js'
import { manifestKinds } from '../../oci/media-types.js'
import { walk } from '../../content/graph.js'
import { MemoryStore } from '../../content/memory-store.js'
import { maxOf } from '../../arrays.js'
import { resolveRequest, type SiteFileSet } from './route-resolver.js'
import { siteRoutes } from './routes.js'
import { bucketKeyOf, deleteRank, entryOf, entryOfKey, pathOf, phaseOf, urlOf, type ServedEntry } from '../map.js'

/** One object of a bucket site: its key (the request path), headers, and where its bytes come from. */
export interface PlannedObject {
  key: string
  entry: ServedEntry
  /** Upload phase (the site map's): what an object names always goes up in an earlier phase. */
  phase: number
  contentType: string
  cacheControl: string
  /** A site file (relative, POSIX), or (for a blob's /v2/ URL) a redirect into the CAS. */
  file?: string
  redirect?: string
  /** Content-addressed: present with the right size means present. */
  immutable: boolean
  /** Headers S3 cannot send, kept as `x-amz-meta-*` metadata for a CDN to send (the pages' Content-Security-Policy). */
  metadata?: Record<string, string>
  digest?: Digest
  size: number
}

/** The files of a site, on disk or planned in memory: which exist (for the route table), their sizes, and the bytes of manifests. */
export interface SiteSource {
  label: string
  files: SiteFileSet
  size(rel: string): Promise<number>
  read(rel: string): Promise<Buffer>
}

/** Manifests by digest go up children first: an index's phase is above every manifest it lists (`phase + depth / 100`). */
const MANIFEST_PHASE = phaseOf({ kind: 'manifest' })

type BlobLink = Extract<ServedEntry, { kind: 'blob-link' }>

/**
 * Each repository's manifests walked (the content layer's one walk), children first: an index
 * goes up a level above the highest manifest it lists (by bucket key); a manifest's config and
 * layers are served under the repository as redirects into the CAS.
 */
async function manifestLevels(manifests: Map<string, MemoryStore>): Promise<{ levels: Map<string, number>; links: Map<string, BlobLink> }> {
  const levels = new Map<string, number>()
  const links = new Map<string, BlobLink>()
  for (const [repo, store] of manifests) {
    const level = new Map<string, number>()
    for (const node of (await walk(store, store.descriptors())).postOrder) {
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
 * Map a site's files onto bucket keys. Each key is the URL path a consumer requests, and its
 * Content-Type and Cache-Control come from the route table that also drives nginx and `serve`
 * (each key is resolved through it, so the bucket answers as nginx does). `deploy` and the
 * bucket publisher both use it: a bucket holds the same objects however it was written.
 */
export async function planObjects(site: SiteSource, files: Iterable<string>, indexDocument: string): Promise<PlannedObject[]> {
  const sorted = [...files].sort()
  const v2 = sorted.includes(pathOf({ kind: 'v2-base' }))
  const routes = siteRoutes({ v2 })
  const out: PlannedObject[] = []
  const add = async (entry: ServedEntry, immutable: boolean) => {
    const requestPath = urlOf(entry)
    const key = bucketKeyOf(entry, indexDocument)
    const r = await resolveRequest(site.files, routes, requestPath)
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.label}: ${requestPath} does not resolve to a file of the site (is the site complete? run ocisite build or verify)`, { path: requestPath })
    const file = r.file.replace(/^\/+/, '')
    const csp = r.headers['Content-Security-Policy']
    out.push({ key, entry, phase: phaseOf(entry), contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, file, immutable, size: await site.size(file), ...(entry.kind === 'blob' ? { digest: entry.digest } : {}), ...(csp ? { metadata: { 'content-security-policy': csp } } : {}) })
  }
  // Each repository's manifests, read once: their walk orders indexes and names the blob links.
  const manifests = new Map<string, MemoryStore>()
  for (const rel of sorted) {
    const entry = entryOf(rel)
    // A file that is not served (`_headers`, ocisite's records) is no object of the bucket.
    if (!entry || entry.kind === 'headers' || entry.kind === 'state') continue
    await add(entry, entry.kind === 'blob' || entry.kind === 'manifest')
    if (entry.kind !== 'manifest') continue
    const store = manifests.get(entry.repo) ?? new MemoryStore(`${site.label} ${entry.repo}`)
    store.put(await site.read(rel), manifestKinds[entry.manifestKind])
    manifests.set(entry.repo, store)
  }
  const { levels, links: blobRedirects } = await manifestLevels(manifests)
  for (const [key, link] of [...blobRedirects].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const r = await resolveRequest(site.files, routes, urlOf(link))
    if (r.kind !== 'file') throw new OcisiteError('STATE_INVALID', `${site.label}: blob ${link.digest.value} of ${link.repo} is missing from the site; rebuild it`, { digest: link.digest.value })
    out.push({ key, entry: link, phase: phaseOf(link), contentType: r.headers['Content-Type']!, cacheControl: r.headers['Cache-Control']!, redirect: urlOf({ kind: 'blob', digest: link.digest }), immutable: true, size: 0 })
  }
  // An index goes up after the manifests (and indexes) it lists.
  for (const o of out) if (o.phase === MANIFEST_PHASE) o.phase += Math.min(levels.get(o.key) ?? 0, 99) / 100
  return out.sort((a, b) => a.phase - b.phase || (a.key < b.key ? -1 : 1))
}

/**
 * Stale keys in batches, by the site map's delete rank (documents before what they name), each
 * sorted. A key of ours the map cannot read (say, an index document of another name) goes last.
 */
export function inDeleteOrder(keys: string[], indexDocument: string): string[][] {
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

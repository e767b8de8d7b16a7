import { promises as fs } from 'node:fs'
import path from 'node:path'
import { mapLimit } from '../concurrency.js'
import type { Descriptor } from '../oci/descriptor.js'
import { digestOf } from '../oci/digest.js'
import { MediaType } from '../oci/media-types.js'
import { parseNode } from '../oci/node.js'
import { pushAll } from '../arrays.js'
import { walk } from '../content/graph.js'
import { OcisiteError } from '../errors.js'
import { planSite } from './plan/plan.js'
import type { UpdateOptions } from './publish.js'
import { loadPublished } from './write/published.js'
import { siteStore } from './write/site-store.js'
import { entryOf, type SiteEntry } from './map.js'
import { SitePaths } from './site-paths.js'
import { lockSite, OwnedRecord, removeEmptyParents, UnreferencedBlobs } from './write/site-state.js'
import { BuildMemo } from './write/build-memo.js'
import { v2Tree } from './write/v2.js'

export interface PruneOptions extends UpdateOptions {
  /** How long a blob must have been unreferenced before it goes, in milliseconds (default 24 h). */
  grace?: number
  /** List what would go; change nothing. */
  dryRun?: boolean
  /** The current time (for tests). */
  now?: number
}

export interface PrunedBlob {
  digest: string
  size: number
  /** When the blob stopped being referenced (ISO 8601). */
  unreferencedSince: string
}

export interface PruneResult {
  site: string
  dryRun: boolean
  /** Removed (or, with dryRun, to be removed). */
  removed: PrunedBlob[]
  /** Unreferenced, but still inside the grace period. */
  waiting: Array<PrunedBlob & { removableAfter: string }>
  bytesRemoved: number
}

export const defaultGrace = 24 * 60 * 60 * 1000

/**
 * Every digest a document in the site points at, read from the documents themselves (the
 * oci-index files and the /v2/ manifest links on record), whatever the site's record says: so
 * prune spares anything a consumer can still reach, even after an interrupted write.
 */
async function referencedOnDisk(site: SitePaths, files: Iterable<string>, known: Set<string>): Promise<Set<string>> {
  const roots: Descriptor[] = []
  const pointers = new Set<SiteEntry['kind']>(['index', 'tag', 'manifest', 'referrers'])
  const docs = [...files].flatMap((rel) => {
    const entry = entryOf(rel)
    return entry && pointers.has(entry.kind) ? [{ rel, entry }] : []
  })
  await mapLimit(docs, 32, async ({ rel, entry }) => {
    const bytes = await fs.readFile(site.abs(rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (!bytes) return
    if (entry.kind === 'index') {
      try {
        // An image's index of tags is an OCI index: its entries are its successors.
        pushAll(roots, parseNode({ mediaType: MediaType.ociIndex, digest: digestOf(bytes), size: bytes.byteLength }, bytes, rel).children)
      } catch (err) {
        // A damaged index names nothing prune can spare; verify reports it.
        if (!(err instanceof OcisiteError)) throw err
      }
    } else roots.push({ mediaType: '', digest: digestOf(bytes), size: bytes.byteLength })
  })
  const seen = new Set(roots.map((r) => r.digest))
  // What the site's record publishes was walked already, with everything below it; a document
  // that cannot be read names nothing more to spare.
  const unknown = [...new Map(roots.filter((r) => !known.has(r.digest)).map((r) => [r.digest, r])).values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))
  const found = await walk(siteStore(site), unknown, { asLeaf: (_desc, err) => err instanceof OcisiteError })
  for (const node of found.nodes) seen.add(node.descriptor.digest)
  return seen
}

/**
 * Delete blobs nothing references any more, once they have been unreferenced for longer than
 * the grace period: pulls that read an older index, and CDN caches holding one, keep working.
 */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  if (options.site.startsWith('s3://')) {
    const { pruneBucket } = await import('./bucket/prune.js')
    return pruneBucket({ ...options.bucket, site: options.site, grace: options.grace ?? defaultGrace, ...(options.dryRun !== undefined ? { dryRun: options.dryRun } : {}), ...(options.now !== undefined ? { now: options.now } : {}) })
  }
  const site = new SitePaths(path.resolve(options.cwd ?? process.cwd(), options.site))
  // Read once before locking, so a directory that is not a site is refused before a lock is made in it.
  await loadPublished(site)
  const grace = options.grace ?? defaultGrace
  const lock = await lockSite(site, { wait: options.wait ?? true, onWait: () => options.onProgress?.({ type: 'waiting', message: `waiting for another ocisite writing ${site.root}` }) })
  try {
    const published = await loadPublished(site)
    const record = await OwnedRecord.load(site)
    const plan = await planSite([], undefined, { label: site.root, images: published.images, pending: published.pending, store: siteStore(site), force: false })
    const reachable = new Set([...plan.blobs.map((b) => b.digest.value), ...(published.settings.v2 ? v2Tree(plan).blobs.map((b) => b.digest.value) : [])])
    for (const digest of await referencedOnDisk(site, record.files, new Set(reachable))) reachable.add(digest)
    const since = await UnreferencedBlobs.load(site)
    const now = options.now ?? Date.now()
    const result: PruneResult = { site: site.root, dryRun: !!options.dryRun, removed: [], waiting: [], bytesRemoved: 0 }
    const stillWaiting = new Map<string, number>()
    const gone: string[] = []
    for (const rel of [...record.files].sort()) {
      const blob = entryOf(rel)
      if (blob?.kind !== 'blob') continue
      const digest = blob.digest
      if (reachable.has(digest.value)) continue
      const st = await fs.lstat(site.abs(rel)).catch(() => undefined)
      const from = since.get(rel) ?? now
      const entry = { digest: digest.value, size: st?.size ?? 0, unreferencedSince: new Date(from).toISOString() }
      if (now - from >= grace) {
        result.removed.push(entry)
        result.bytesRemoved += entry.size
        gone.push(rel)
      } else {
        result.waiting.push({ ...entry, removableAfter: new Date(from + grace).toISOString() })
        stillWaiting.set(rel, from)
      }
    }
    if (options.dryRun) return result
    // The site changes: the memo of its last build goes first.
    if (gone.length > 0) await BuildMemo.clear(site)
    for (const rel of gone) {
      await fs.rm(site.abs(rel), { force: true })
      await removeEmptyParents(site, rel)
    }
    await lock.check()
    const goneSet = new Set(gone)
    await record.save([...record.files].filter((rel) => !goneSet.has(rel)))
    await UnreferencedBlobs.save(site, stillWaiting)
    return result
  } finally {
    await lock.release()
  }
}

import { mapLimit } from '../../concurrency.js'
import { copyGraph, type CopyGraphOptions } from '../../content/copy.js'
import { FileStore, type HashStats } from '../../content/file-store.js'
import type { OciLayout } from '../../content/layout/oci-layout.js'
import { MemoryStore } from '../../content/memory-store.js'
import type { Blob, Deleter, Fetcher, Storage } from '../../content/storage.js'
import type { VerifyCache } from '../../content/verify-cache.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import { MediaType } from '../../oci/media-types.js'
import type { PlannedBlob, SitePlan } from '../plan/plan.js'
import { pathOf } from '../map.js'
import type { SitePaths } from '../site-paths.js'
import { removeEmptyParents } from './site-state.js'
import { siteBlobMissing } from './site-store.js'
import type { V2Tree } from './v2.js'

/**
 * Where a plan's blobs come from: each from the input layout the plan took it from (a file it
 * checked already: regular, inside the layout, the right size). A blob only the site held has
 * nowhere to come from: the site must still hold it, intact. `verify` checks an input's copy in
 * place (by the verify cache, or a hash) when the site has the blob already: an input with the
 * wrong bytes still stops the build.
 */
export class PlanSource implements Fetcher {
  readonly label: string
  private readonly blobs: Map<string, PlannedBlob>
  private readonly inputs = new Map<OciLayout, FileStore>()
  constructor(
    private readonly site: SitePaths,
    plan: SitePlan,
    private readonly cache: VerifyCache,
    private readonly stats: HashStats,
  ) {
    this.label = site.root
    this.blobs = new Map(plan.blobs.map((b) => [b.digest.value, b]))
  }

  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    const origin = this.blobs.get(desc.digest)?.origin
    if (!origin) throw siteBlobMissing(this.site, desc.digest)
    return origin.layout.fetch(desc, use)
  }

  async verify(desc: Descriptor): Promise<void> {
    const origin = this.blobs.get(desc.digest)?.origin
    if (!origin) return
    let files = this.inputs.get(origin.layout)
    if (!files) this.inputs.set(origin.layout, (files = new FileStore({ label: origin.layout.label, blobPath: (d) => origin.layout.paths.blob(d), cache: this.cache, stats: this.stats })))
    await files.verify(desc, origin.stamp)
  }
}

/** One copy of a site write: the graphs below `roots`, from `from`, with copyGraph's options. */
export interface CopyBatch {
  from: Fetcher
  roots: Descriptor[]
  options?: Omit<CopyGraphOptions, 'concurrency'>
}

/**
 * The copies a plan makes, image by image: each image's tags and referrers (every node looked
 * at, and the input checked where the site has the blob already: a site blob can be damaged
 * below a manifest it holds intact), the waiting referrers, then the documents ocisite
 * generates (referrers indexes, whose manifests are in place by then).
 */
export function planBatches(plan: SitePlan, v2: V2Tree | undefined, source: PlanSource, hooks: Omit<CopyGraphOptions, 'concurrency' | 'cache' | 'skipSubgraphs'>): CopyBatch[] {
  const onSkipped = async (desc: Descriptor) => {
    await source.verify(desc)
    await hooks.onSkipped?.(desc)
  }
  const options = { ...hooks, onSkipped, skipSubgraphs: false }
  const batches: CopyBatch[] = plan.images.map((image) => ({
    from: source,
    roots: [...image.tags.map((t) => t.entry), ...[...image.referrers.values()].flat()],
    options: { ...options, cache: image.nodes },
  }))
  if (plan.pending.length > 0) batches.push({ from: source, roots: plan.pending.map((p) => p.descriptor), options: { ...options, cache: plan.pendingNodes } })
  const generated = new MemoryStore()
  const roots = (v2?.blobs ?? []).map((b) => generated.put(b.bytes, MediaType.ociIndex))
  if (roots.length > 0) batches.push({ from: generated, roots })
  return batches
}

/**
 * Copy batches into the site's store, one after another, as one transaction: if any fails,
 * every blob any of them added is removed again, then the shard directories made for them (rmdir
 * spares any still in use), and the error is thrown. The old site stays as it was.
 *
 * The books are kept in loops, never spread into a call: a site can have hundreds of thousands
 * of blobs.
 */
export async function copyIntoSite(site: SitePaths, store: Storage & Deleter, batches: CopyBatch[], concurrency?: number): Promise<void> {
  const copied: Descriptor[] = []
  const touched = new Set<string>()
  // Every blob the copy looks at may get a shard directory made for it.
  const tracked: Storage = {
    label: store.label,
    exists: (desc) => {
      touched.add(desc.digest)
      return store.exists(desc)
    },
    fetch: (desc, use) => store.fetch(desc, use),
    push: (desc, blob, onBytes) => store.push(desc, blob, onBytes),
  }
  try {
    for (const { from, roots, options } of batches) {
      await copyGraph(from, tracked, roots, {
        ...options,
        ...(concurrency !== undefined ? { concurrency } : {}),
        onCopied: (desc) => {
          copied.push(desc)
          options?.onCopied?.(desc)
        },
      })
    }
  } catch (err) {
    await mapLimit(copied, UNDO_CONCURRENCY, (d) => store.delete(d))
    // Each shard directory once: thousands of blobs share one.
    const dirs = new Map<string, string>()
    for (const digest of touched) {
      const rel = pathOf({ kind: 'blob', digest: parseDigest(digest) })
      dirs.set(rel.slice(0, rel.lastIndexOf('/')), rel)
    }
    for (const rel of dirs.values()) await removeEmptyParents(site, rel)
    throw err
  }
}

/** Blobs removed at once when a copy is undone. */
const UNDO_CONCURRENCY = 32

import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import type { OciLayout } from '../../content/layout/oci-layout.js'
import { copyBlobs, type CopyItem, type CopyOptions, type CopySource } from '../../content/copy-blobs.js'
import { FileStore, type HashStats } from '../../content/file-store.js'
import { MemoryStore } from '../../content/memory-store.js'
import type { Fetcher, Storage } from '../../content/storage.js'
import type { VerifyCache } from '../../content/verify-cache.js'
import type { SitePlan } from '../plan/plan.js'
import { SiteLayout, type SitePaths } from '../map.js'
import { removeEmptyParents } from './site-state.js'
import type { V2Tree } from './v2.js'

/** The site's own store: `oci-cas`, each shard directory checked before a blob is written in it. */
export function siteStore(site: SitePaths, cache: VerifyCache, stats: HashStats): FileStore {
  return new FileStore({ label: site.root, blobPath: (d) => site.abs(SiteLayout.blob(d)), prepare: (d) => site.parentDir(SiteLayout.blob(d)).then(() => undefined), cache, stats })
}

/** Bytes ocisite generated (a referrers index), as a store to copy from. */
export function bytesStore(bytes: Buffer): MemoryStore {
  const store = new MemoryStore()
  store.put(bytes, '')
  return store
}

/** The error for a blob the site publishes that only the site held, and no longer holds intact. */
export function siteBlobMissing(site: SitePaths, digest: string): OcisiteError {
  return new OcisiteError('BLOB_MISSING', `${site.root}: blob ${digest}, which the site publishes, is missing or damaged; add the image again, or rebuild the site from its inputs`, { digest })
}

/**
 * What a plan copies into the site: its blobs, each from its input layout (or, for a blob only
 * the site holds, from nowhere: it must still be there, intact), then the generated blobs.
 */
export function planCopyItems(site: SitePaths, plan: SitePlan, v2: V2Tree | undefined, cache: VerifyCache, stats: HashStats): { blobs: CopyItem[]; generated: CopyItem[] } {
  const inputStores = new Map<OciLayout, CopySource>()
  const storeOf = (layout: OciLayout) => {
    let s = inputStores.get(layout)
    if (!s) {
      // Read through the layout (the plan already checked each blob file: regular, inside the
      // layout, the right size), checked in place through the site's verify cache.
      const files = new FileStore({ label: layout.label, blobPath: (d) => layout.paths.blob(d), cache, stats })
      inputStores.set(layout, (s = { label: layout.label, fetch: (desc, use) => layout.fetch(desc, use), verify: (desc) => files.verify(desc, layout.statBlob(desc).stamp) }))
    }
    return s
  }
  const siteOnly: Fetcher = {
    label: site.root,
    fetch: async (desc) => {
      throw siteBlobMissing(site, desc.digest)
    },
  }
  return {
    blobs: plan.blobs.map((b) => ({ desc: { mediaType: '', digest: b.digest.value, size: b.size }, from: b.origin ? storeOf(b.origin.layout) : siteOnly })),
    generated: (v2?.blobs ?? []).map((b) => ({ desc: { mediaType: '', digest: b.digest.value, size: b.bytes.byteLength }, from: bytesStore(b.bytes) })),
  }
}

/** One copy of a transaction. */
export interface CopyBatch {
  items: CopyItem[]
  options?: CopyOptions
}

/** A store a copy into it can be undone in: it removes a blob it holds. */
export type UndoableStore = Storage & { delete(desc: Descriptor): Promise<void> }

/**
 * Copy batches of blobs into the site's store, one after another, as one transaction: if any
 * fails, every blob any of them added is removed again, then the shard directories made for
 * them (rmdir spares any still in use), and the error is thrown. The old site stays as it was.
 *
 * The batches' lists are kept as they are and walked in place (never spread into a call): a
 * site can have hundreds of thousands of blobs.
 */
export async function copyIntoSite(site: SitePaths, store: UndoableStore, batches: CopyBatch[]): Promise<void> {
  const done: Array<{ copied: Descriptor[]; attempted: Descriptor[] }> = []
  const undo = async (copied: Descriptor[], attempted: Descriptor[]) => {
    const all = [...done, { copied, attempted }]
    for (const tx of all) await mapLimit(tx.copied, UNDO_CONCURRENCY, (d) => store.delete(d))
    // Each shard directory once: thousands of blobs share one.
    const dirs = new Map<string, string>()
    for (const tx of all) {
      for (const d of tx.attempted) {
        const rel = SiteLayout.blob(parseDigest(d.digest))
        dirs.set(rel.slice(0, rel.lastIndexOf('/')), rel)
      }
    }
    for (const rel of dirs.values()) await removeEmptyParents(site, rel)
  }
  for (const { items, options } of batches) {
    const tx = await copyBlobs(store, items, { ...options, undo })
    done.push({ copied: tx.copied, attempted: items.map((i) => i.desc) })
  }
}

/** Blobs removed at once when a copy is undone. */
const UNDO_CONCURRENCY = 32

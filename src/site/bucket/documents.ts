import { promises as fs } from 'node:fs'
import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import { BucketStore, type Bucket } from '../../content/bucket-store.js'
import { verifyBytes } from '../../content/ingest/verify.js'
import { inDeleteOrder } from '../serve/bucket-objects.js'
import type { BucketObject } from './objects.js'
import type { Unreferenced } from './record.js'

/** What a document pass did: keys written and deleted, and the mutable ones among them (for a CDN). */
export interface DocumentWrites {
  written: number
  unchanged: number
  deleted: string[]
  changed: string[]
}

/** Blobs up to this size go up in one put-if-absent; larger ones are checked first, then sent in parts. */
const SINGLE_PUT = 8 * 1024 * 1024

/**
 * Upload the blobs of `now` that the bucket may not have: not in the previous generation, not
 * waiting for prune, not uploaded by an earlier attempt of this run. Returns the digests that went up.
 */
export async function uploadBlobs(bucket: Bucket, before: Map<string, BucketObject>, now: Map<string, BucketObject>, waiting: Unreferenced[], uploaded: Set<string>, concurrency: number): Promise<{ written: Set<string>; bytes: number }> {
  const kept = new Set(waiting.map((u) => u.digest))
  const todo = [...now.values()].filter((o) => o.entry.kind === 'blob' && !before.has(o.key) && !kept.has(o.digest!.value) && !uploaded.has(o.digest!.value))
  const counts = { written: new Set<string>(), bytes: 0 }
  await mapLimit(todo, concurrency, async (o) => {
    const digest = o.digest!
    const headers = { contentType: o.contentType, cacheControl: o.cacheControl }
    if (o.body || (o.origin && o.size <= SINGLE_PUT)) {
      const bytes = o.body ?? (await fs.readFile(o.origin!))
      verifyBytes(bytes, { digest, size: o.size, label: o.origin ?? bucket.where.url })
      // Content-addressed: an object already there (412) holds these bytes.
      if (await bucket.create(o.key, bytes, headers)) counts.written.add(digest.value)
    } else if ((await bucket.head(o.key))?.size !== o.size) {
      if (!o.origin) throw new OcisiteError('BLOB_MISSING', `${bucket.where.url}: blob ${digest.value} is in no input and missing from the bucket (${o.key}); add its image again`, { digest: digest.value })
      const store = new BucketStore(bucket, new Map(), () => o.key, headers)
      await store.push({ mediaType: '', digest: digest.value, size: o.size }, { label: o.origin, file: o.origin })
      counts.written.add(digest.value)
    }
    counts.bytes += o.size
    uploaded.add(digest.value)
  })
  return counts
}

/**
 * Write the documents of `now` whose bytes or headers differ from `before`, phase by phase (what
 * a document names is always up first), then delete what `now` no longer has, documents before
 * what they name. Blobs are never deleted here (prune does, after the grace period).
 */
export async function writeDocuments(bucket: Bucket, before: Map<string, BucketObject>, now: Map<string, BucketObject>, concurrency: number): Promise<DocumentWrites> {
  const docs = [...now.values()].filter((o) => o.entry.kind !== 'blob')
  const changed = docs.filter((o) => before.get(o.key)?.fingerprint !== o.fingerprint)
  const bodiless = changed.find((o) => !o.body && o.redirect === undefined)
  // A page kept by its fingerprint has no bytes here: it can only be one the bucket already holds.
  if (bodiless) throw new OcisiteError('STATE_INVALID', `${bucket.where.url}: no bytes to write for ${bodiless.key}, which changed; the site record is damaged`, { path: bodiless.key })
  for (const phase of [...new Set(changed.map((o) => o.phase))].sort((a, b) => a - b)) {
    await mapLimit(
      changed.filter((o) => o.phase === phase),
      concurrency,
      (o) => bucket.put(o.key, o.body ?? Buffer.alloc(0), { contentType: o.contentType, cacheControl: o.cacheControl, ...(o.redirect ? { redirect: o.redirect } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) }),
    )
  }
  const stale = [...before.values()].filter((o) => o.entry.kind !== 'blob' && !now.has(o.key))
  const deleted: string[] = []
  for (const batch of inDeleteOrder(stale.map((o) => o.key), 'index.html')) {
    await bucket.remove(batch)
    deleted.push(...batch)
  }
  const mutable = [...changed, ...stale].filter((o) => !o.immutable).map((o) => o.key)
  return { written: changed.length, unchanged: docs.length - changed.length, deleted, changed: [...new Set(mutable)].sort() }
}

/** Blobs waiting for prune after a write: those already waiting, and those `now` dropped since `before`; minus what `now` uses. */
export function unreferencedAfter(waiting: Unreferenced[], before: Map<string, BucketObject>, now: Map<string, BucketObject>, since: string): Unreferenced[] {
  const used = new Set([...now.values()].flatMap((o) => (o.entry.kind === 'blob' ? [o.digest!.value] : [])))
  const out = waiting.filter((u) => !used.has(u.digest))
  const listed = new Set(out.map((u) => u.digest))
  for (const o of before.values()) {
    if (o.entry.kind !== 'blob' || used.has(o.digest!.value) || listed.has(o.digest!.value)) continue
    out.push({ digest: o.digest!.value, size: o.size, since })
  }
  return out.sort((a, b) => (a.digest < b.digest ? -1 : 1))
}

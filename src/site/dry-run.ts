import { lstatOrUndefined } from '../fs/atomic.js'
import { mapLimit } from '../concurrency.js'
import { siteBlobMissing } from './write/site-store.js'
import type { SiteFiles } from './write/documents.js'
import type { SitePlan } from './plan/plan.js'
import type { ProgressListener } from './progress.js'
import type { PublishedImage } from './write/published.js'
import { changesBetween } from './write/site-changes.js'
import { expectedFiles, ownedAfter, readIfSize, siteDocuments, type DocumentSettings } from './write/site-files.js'
import { pathOf } from './map.js'
import type { SitePaths } from './site-paths.js'
import { sitePages } from './write/pages/pages.js'
import { OwnedRecord } from './write/site-state.js'
import type { WriteOutcome } from './write/write-result.js'

// A dry run reads the site without taking its lock: the lock is a directory made inside the
// site, and a dry run leaves the site exactly as it found it (every byte, and every file time).
// Each file it reads (the record of what the site publishes, the record of owned files) is
// replaced whole by a rename, so each read is consistent on its own; a write running meanwhile
// may still change the answer, and a warning says when one holds the lock.

/** Warn when another ocisite holds the site's lock: a dry run does not wait for it. */
export function warnIfLocked(site: SitePaths, onProgress: ProgressListener | undefined): void {
  const lock = `${site.abs(pathOf({ kind: 'state', name: 'lock' }))}.d`
  if (lstatOrUndefined(lock)?.isDirectory()) {
    onProgress?.({ type: 'warning', message: `${site.root}: another ocisite is writing this site (lock ${lock}); this dry run did not wait for it, so what it shows may change when that write ends` })
  }
}

/** A blob the site already holds, by its size (a dry run hashes nothing). */
function holds(site: SitePaths, rel: string, size: number): boolean {
  const st = lstatOrUndefined(site.abs(rel))
  return st !== undefined && st.isFile() && st.size === BigInt(size)
}

/** How many of a group's documents a write would rewrite (the rest are in place already). */
function compareDocuments(site: SitePaths, files: SiteFiles, docs: { written: number; unchanged: number }): void {
  for (const [rel, digest] of files.links) {
    const a = lstatOrUndefined(site.abs(rel))
    const b = lstatOrUndefined(site.abs(pathOf({ kind: 'blob', digest })))
    if (a && b && a.ino === b.ino && a.dev === b.dev) docs.unchanged++
    else docs.written++
  }
  for (const [rel, bytes] of files.files) {
    const st = lstatOrUndefined(site.abs(rel))
    const current = st?.isFile() && st.size === BigInt(bytes.byteLength) ? readIfSize(site.abs(rel), bytes.byteLength) : undefined
    if (current?.equals(bytes)) docs.unchanged++
    else docs.written++
  }
}

/**
 * What writing `plan` into the site would do, found by reading only: the tags it would publish,
 * move and unpublish against `before`, the blobs and documents it would write, and the files it
 * would delete. Fails as the write would on a symlinked directory or a blob only the site held.
 */
export async function previewWrite(site: SitePaths, plan: SitePlan, before: PublishedImage[], settings: DocumentSettings & { host: string }, keepBlobs: boolean): Promise<WriteOutcome> {
  const pages = settings.html ? await sitePages(site, plan, settings, keepBlobs ? before : undefined) : undefined
  const { documents, v2 } = siteDocuments(plan, settings, pages?.documents)
  const expected = expectedFiles(plan, v2, documents)
  await mapLimit([...new Set([...expected].map((rel) => rel.slice(0, rel.lastIndexOf('/') + 1)))], 32, (dir) => site.parentDir(`${dir}x`, false))
  const blobs = { written: 0, skipped: 0, hashed: 0, bytesWritten: 0 }
  for (const b of plan.blobs) {
    if (holds(site, pathOf({ kind: 'blob', digest: b.digest }), b.size)) blobs.skipped++
    else if (!b.origin) throw siteBlobMissing(site, b.digest.value)
    else {
      blobs.written++
      blobs.bytesWritten += b.size
    }
  }
  const docs = { written: 0, unchanged: 0 }
  for (const d of documents) compareDocuments(site, d, docs)
  const record = await OwnedRecord.load(site)
  const deleted: string[] = []
  for (const rel of ownedAfter(record.files, expected, keepBlobs).stale) {
    if ((await site.parentDir(rel, false)) === undefined) continue
    const st = lstatOrUndefined(site.abs(rel))
    if (st && !st.isDirectory()) deleted.push(rel)
  }
  return { blobs, documents: docs, deleted, changes: changesBetween(before, plan.images) }
}

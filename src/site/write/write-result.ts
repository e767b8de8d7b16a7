import type { Descriptor } from '../../oci/descriptor.js'
import type { SitePlan } from '../plan/plan.js'
import type { SiteChanges } from './site-changes.js'

/** A referrer as a result names it: the manifest it refers to, its digest and artifact type. */
export interface ReferrerSummary {
  subject: string
  digest: string
  artifactType?: string
}

/**
 * What a write (build, add, rm) published, for `--json` and for callers; with `dryRun`, what it
 * would publish, write and delete (and nothing was changed).
 */
export interface BuildResult extends SiteChanges {
  out: string
  host: string
  images: Array<{
    path: string
    tags: Array<{ tag: string; digest: string; mediaType: string; size: number }>
    /** The referrers it lists under /v2/<path>/referrers/, when it has any. */
    referrers?: ReferrerSummary[]
  }>
  /** Referrers kept until an image publishes their subject (not served yet), when there are any. */
  pending?: ReferrerSummary[]
  /**
   * `written`: blobs copied in (with `dryRun`: missing from the site, or of the wrong size);
   * `hashed`: blobs whose bytes were read and hashed (the rest were trusted by their unchanged stat).
   */
  blobs: { total: number; written: number; skipped: number; hashed: number; bytesTotal: number; bytesWritten: number }
  documents: { written: number; unchanged: number }
  /** How many files were deleted: `deleted.length`. */
  pruned: number
  /** Site files deleted (documents, and blobs a build no longer uses), site-relative, in the order they went. */
  deleted: string[]
  /** True when nothing was written: what the write would do. */
  dryRun: boolean
  nginx?: string
}

/** What a write did (or, with `dryRun`, would do). */
export interface WriteOutcome {
  blobs: { written: number; skipped: number; hashed: number; bytesWritten: number }
  documents: { written: number; unchanged: number }
  deleted: string[]
  changes: SiteChanges
}

function referrerSummary(subject: string, d: Descriptor): ReferrerSummary {
  return { subject, digest: d.digest, ...(d.artifactType ? { artifactType: d.artifactType } : {}) }
}

export function resultOf(out: string, host: string, plan: SitePlan, outcome: WriteOutcome, dryRun: boolean): BuildResult {
  return {
    out,
    host,
    images: plan.images.map((i) => {
      const referrers = [...i.referrers].flatMap(([subject, list]) => list.map((d) => referrerSummary(subject, d)))
      return { path: i.path, tags: i.tags.map((t) => ({ tag: t.tag, digest: t.entry.digest, mediaType: t.entry.mediaType, size: t.entry.size })), ...(referrers.length > 0 ? { referrers } : {}) }
    }),
    ...(plan.pending.length > 0 ? { pending: plan.pending.map((p) => referrerSummary(p.subject, p.descriptor)) } : {}),
    blobs: { total: plan.blobs.length, written: outcome.blobs.written, skipped: outcome.blobs.skipped, hashed: outcome.blobs.hashed, bytesTotal: plan.blobs.reduce((n, b) => n + b.size, 0), bytesWritten: outcome.blobs.bytesWritten },
    documents: outcome.documents,
    pruned: outcome.deleted.length,
    deleted: outcome.deleted,
    ...outcome.changes,
    dryRun,
  }
}

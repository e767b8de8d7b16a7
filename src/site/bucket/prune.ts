import type { Bucket } from '../../content/bucket-store.js'
import { OcisiteError } from '../../errors.js'
import { parseDigest } from '../../oci/digest.js'
import { bucketKeyOf, bucketState, recordKeyOf } from '../map.js'
import { commitRecord, markDone } from './record.js'
import { backoff, openBucketSite, settledRecord, type BucketSiteOptions } from './writer.js'

/** What prune did (the shape of a directory prune's result, plus the requests it cost). */
export interface BucketPruneResult {
  site: string
  dryRun: boolean
  removed: Array<{ digest: string; size: number; unreferencedSince: string }>
  waiting: Array<{ digest: string; size: number; unreferencedSince: string; removableAfter: string }>
  bytesRemoved: number
  requests: number
}

/**
 * Prune a bucket site: commit a generation whose record no longer lists the blobs unreferenced
 * for longer than `grace`, then delete them; and delete record generations older than `grace`
 * (the newest two always stay).
 */
export async function pruneBucket(options: BucketSiteOptions & { grace: number; dryRun?: boolean; now?: number }): Promise<BucketPruneResult> {
  const bucket = await openBucketSite(options)
  const now = options.now ?? Date.now()
  for (let attempt = 1; attempt <= (options.attempts ?? 20); attempt++) {
    const record = await settledRecord(bucket, options)
    if (!record) throw new OcisiteError('NOT_A_SITE', `${options.site} holds no ocisite site record; publish into it with ocisite add --site ${options.site} --host HOST`)
    const due = record.unreferenced.filter((u) => now - Date.parse(u.since) >= options.grace)
    const left = record.unreferenced.filter((u) => !due.includes(u))
    const result = {
      site: options.site,
      dryRun: options.dryRun ?? false,
      removed: due.map((u) => ({ digest: u.digest, size: u.size, unreferencedSince: u.since })),
      waiting: left.map((u) => ({ digest: u.digest, size: u.size, unreferencedSince: u.since, removableAfter: new Date(Date.parse(u.since) + options.grace).toISOString() })),
      bytesRemoved: due.reduce((n, u) => n + u.size, 0),
    }
    if (result.dryRun || due.length === 0) return { ...result, requests: bucket.requests }
    // The record stops listing them before they go: a writer planning from it uploads them again.
    if (!(await commitRecord(bucket, { ...record, generation: record.generation + 1, unreferenced: left }))) {
      await backoff(attempt)
      continue
    }
    await markDone(bucket, record.generation + 1)
    await bucket.remove(due.map((u) => bucketKeyOf({ kind: 'blob', digest: parseDigest(u.digest) })))
    await removeOldGenerations(bucket, record.generation + 1, now, options.grace)
    return { ...result, requests: bucket.requests }
  }
  throw new OcisiteError('SITE_LOCKED', `${options.site}: every commit was taken by other writers; try again later`)
}

async function removeOldGenerations(bucket: Bucket, newest: number, now: number, grace: number): Promise<void> {
  const old = [...(await bucket.listUnder(bucketState.records))].filter(([key, o]) => {
    const r = recordKeyOf(key)
    return r !== undefined && r.generation < newest - 1 && o.modified !== undefined && now - o.modified.getTime() >= grace
  })
  if (old.length > 0) await bucket.remove(old.map(([key]) => key))
}

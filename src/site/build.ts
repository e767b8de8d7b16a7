import { promises as fs, statSync } from 'node:fs'
import path from 'node:path'
import { ensureDir, linkAtomic, lstatOrUndefined, stampOf, writeFileAtomic } from '../fs/atomic.js'
import { mapLimit } from '../concurrency.js'
import { VerifyCache } from '../content/verify-cache.js'
import { digestOf } from '../oci/digest.js'
import type { SiteFiles } from './write/documents.js'
import { openInputs, Scratch } from './plan/inputs.js'
import { renderNginx } from './serve/nginx.js'
import { normalizeBuildOptions, type BuildOptions, type NginxOptions, type NormalizedBuildOptions } from './options.js'
import { planSite, publishedOf, type SitePlan } from './plan/plan.js'
import type { ProgressListener } from './progress.js'
import { BuildMemo, buildRequest, type BuildRequest } from './write/build-memo.js'
import { pathOf, siteDirs } from './map.js'
import { SitePaths } from './site-paths.js'
import { checkOut, lockSite, OwnedRecord, removeEmptyParents, removeTempFiles, UnreferencedBlobs, type SiteLock } from './write/site-state.js'
import { loadPublished, publishedBefore, savePublished, type Published, type PublishedImage } from './write/published.js'
import { copyIntoSite, planBatches, PlanSource } from './write/blob-copy.js'
import { siteStore } from './write/site-store.js'
import { CopyProgress } from '../content/progress.js'
import { previewWrite, warnIfLocked } from './dry-run.js'
import { changesBetween } from './write/site-changes.js'
import { expectedFiles, ownedAfter, readIfSize, siteDocuments } from './write/site-files.js'
import { sitePages, withSummaries } from './write/pages/pages.js'
import { resultOf, type BuildResult } from './write/write-result.js'
import { identityHost, loadSigning, type Signing } from './sign/signing.js'
import { planSigned } from './sign/plan-signed.js'
import { lookasideFiles } from './sign/lookaside-files.js'

export type { BuildResult } from './write/write-result.js'

/** Build (or update) a static site from OCI layouts. See README.md for the tree it writes. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const opts = await normalizeBuildOptions(options)
  const signing = await loadSigning(options, path.resolve(options.cwd ?? process.cwd()))
  if (opts.headersFile && opts.v2) {
    opts.onProgress?.({ type: 'warning', message: '--headers-file: Netlify and Cloudflare Pages can serve the discovery paths, but not /v2/ (it needs a URL mapped onto one of several files); pass --no-v2 to leave /v2/ out' })
  }
  const scratch = new Scratch()
  try {
    const inputs = await openInputs(opts.images, scratch, opts.maxArchiveSize)
    for (const i of inputs) opts.onProgress?.({ type: 'input', label: i.layout.label, imagePath: i.imagePath })
    // What the site will depend on, taken before anything is read: a later change then shows.
    // (The memo does not know keys or a staging tree: a signing build always plans.)
    const memo = opts.verify || opts.dryRun || signing ? undefined : buildRequest(opts, inputs)
    const signed = { site: new SitePaths(opts.out), host: identityHost(opts.host, opts.baseUrl), signing, scratch, mode: 'build' as const }
    const plan = (onProgress?: ProgressListener) => planSigned({ ...signed, ...(onProgress ? { onProgress } : {}) }, (extra, _replaced, progress) => planSite([...inputs, ...extra], progress))
    return await writeSite({ ...opts, inputs: opts.images.map((i) => i.from), ...(signing ? { signing } : {}) }, { kind: 'build', plan, ...(memo ? { memo } : {}) })
  } finally {
    await scratch.dispose()
  }
}

/** Everything writing a site needs besides its plan. */
export type SiteWriteOptions = Pick<NormalizedBuildOptions, 'out' | 'host' | 'baseUrl' | 'v2' | 'headersFile' | 'html' | 'force' | 'wait' | 'concurrency' | 'verify' | 'dryRun' | 'onProgress'> & {
  nginx?: NginxOptions
  /** The inputs, which must not lie inside the site. */
  inputs: string[]
  /** The lookaside's staging tree and the gpg key to sign with (cosign signatures are planned as inputs). */
  signing?: Signing
}

/**
 * A full build replaces what the site publishes (and removes blobs nothing uses any more); with
 * `memo`, a build that would change nothing is answered from the memo of the last one. An
 * update plans from what the site publishes now, and keeps every blob (`prune` removes them once
 * unreferenced for long enough). Both plan under the site's lock.
 */
export type WriteMode =
  | { kind: 'build'; plan: (onProgress?: ProgressListener) => Promise<SitePlan>; memo?: BuildRequest }
  | { kind: 'update'; plan: (site: SitePaths, published: Published) => Promise<SitePlan> }

/** What the site publishes now (nothing, for a new site), and the plan of what it will publish. */
async function planWrite(site: SitePaths, mode: WriteMode, opts: SiteWriteOptions, onProgress: ProgressListener | undefined, warn: ProgressListener | undefined): Promise<{ before: PublishedImage[]; plan: SitePlan }> {
  let planned: { before: PublishedImage[]; plan: SitePlan }
  if (mode.kind === 'build') {
    const before = await publishedBefore(site, warn)
    planned = { before: before?.images ?? [], plan: await mode.plan(onProgress) }
  } else {
    const published = await loadPublished(site)
    planned = { before: published.images, plan: await mode.plan(site, published) }
  }
  // The lookaside follows what the plan publishes: every write keeps, adds or drops signatures.
  planned.plan.lookaside = await lookasideFiles(site, planned.plan, identityHost(opts.host, opts.baseUrl), opts.signing, onProgress)
  return planned
}

/**
 * Write a planned site under its lock: blobs, the record of what it publishes, documents, then
 * deletes. With `dryRun`, only plan and compare: see dry-run.ts.
 */
export async function writeSite(opts: SiteWriteOptions, mode: WriteMode): Promise<BuildResult> {
  // Rendered before anything is written, so a path nginx cannot take fails the build early.
  const nginxConf = opts.nginx?.file ? await renderNginx({ ...opts.nginx, host: opts.host, v2: opts.v2, html: opts.html }) : undefined
  const site = new SitePaths(opts.out)
  // (An update's caller has already read the site's record, so a directory that is not a site is
  // refused before a lock is made in it.)
  if (mode.kind === 'build') await checkOut(opts.out, opts.inputs, opts.force)
  if (opts.dryRun) {
    warnIfLocked(site, opts.onProgress)
    const { before, plan } = await planWrite(site, mode, opts, opts.onProgress, opts.onProgress)
    return resultOf(site.root, opts.host, plan, await previewWrite(site, plan, before, opts, mode.kind === 'update'), true)
  }
  if (mode.kind === 'build') await ensureDir(opts.out)
  for (const dir of Object.values(siteDirs)) await site.parentDir(`${dir}/x`, false)
  const lock = await lockSite(site, { wait: opts.wait, onWait: () => opts.onProgress?.({ type: 'waiting', message: `waiting for another ocisite writing ${site.root}` }) })
  try {
    const cache = await VerifyCache.load(opts.verify ? undefined : site.abs(pathOf({ kind: 'state', name: 'verified' })))
    const memo = mode.kind === 'build' ? mode.memo : undefined
    const remembered = memo && (await BuildMemo.check<BuildResult>(site, memo, cache))
    let result: BuildResult
    if (remembered) result = replay(remembered, opts.onProgress)
    else {
      // From here the site changes: the memo goes first, so a crash leaves none.
      await BuildMemo.clear(site)
      const warnings: string[] = []
      const onProgress: ProgressListener = (e) => {
        if (e.type === 'warning') warnings.push(e.message)
        opts.onProgress?.(e)
      }
      // An update reads what the site publishes only once it holds the lock: no other writer's
      // change can be lost between the read and the write. (A warning about the old record is
      // not remembered: the write replaces it.)
      const { before, plan } = await planWrite(site, mode, opts, onProgress, opts.onProgress)
      const written = await writeLocked(site, plan, before, opts, lock, mode.kind === 'update', cache)
      result = written.result
      if (memo) await BuildMemo.save(site, memo, plan.seen, written.complete, written.vouched, result, warnings)
    }
    if (opts.nginx?.file && nginxConf !== undefined) {
      await writeFileAtomic(opts.nginx.file, Buffer.from(nginxConf))
      result = { ...result, nginx: opts.nginx.file }
    }
    return result
  } finally {
    await lock.release()
  }
}

/** A build with nothing to do: the last build's result, as it stands now (nothing written, nothing changed). */
function replay({ result, warnings }: { result: BuildResult; warnings: string[] }, onProgress: ProgressListener | undefined): BuildResult {
  for (const message of warnings) onProgress?.({ type: 'warning', message })
  onProgress?.({ type: 'publishing', images: result.images.length, tags: result.images.reduce((n, i) => n + i.tags.length, 0) })
  onProgress?.({ type: 'plan', blobs: result.blobs.total, bytes: result.blobs.bytesTotal, done: result.blobs.total, bytesDone: result.blobs.bytesTotal })
  const documents = { written: 0, unchanged: result.documents.written + result.documents.unchanged }
  onProgress?.({ type: 'documents', ...documents })
  onProgress?.({ type: 'pruned', files: 0 })
  const blobs = { ...result.blobs, written: 0, skipped: result.blobs.total, hashed: 0, bytesWritten: 0 }
  return { ...result, blobs, documents, pruned: 0, deleted: [], added: [], moved: [], unpublished: [], dryRun: false }
}

async function writeLocked(
  site: SitePaths,
  plan: SitePlan,
  before: PublishedImage[],
  opts: SiteWriteOptions,
  lock: SiteLock,
  keepBlobs: boolean,
  cache: VerifyCache,
): Promise<{ result: BuildResult; vouched: number; complete: boolean }> {
  const bytesTotal = plan.blobs.reduce((n, b) => n + b.size, 0)
  opts.onProgress?.({ type: 'publishing', images: plan.images.length, tags: plan.images.reduce((n, i) => n + i.tags.length, 0) })
  // The pages read the configs they show from the inputs (or the site): before any write, so a bad one stops the build early.
  const pages = opts.html ? await sitePages(site, plan, opts, keepBlobs ? before : undefined) : undefined
  const { documents, v2 } = siteDocuments(plan, opts, pages?.documents)

  // What this build owns once it is done; recorded together with the old record before any write,
  // so after a crash at any point every file ocisite wrote is still on record.
  const expected = expectedFiles(plan, v2, documents)
  // Every directory the build will write in is checked first: a symlink anywhere stops it before any write.
  await mapLimit([...new Set([...expected].map((rel) => rel.slice(0, rel.lastIndexOf('/') + 1)))], 32, (dir) => site.parentDir(`${dir}x`, false))
  const record = await OwnedRecord.load(site)
  await removeTempFiles(site)
  await record.save([...record.files, ...expected])

  // Blobs first, image by image from the input layouts into the site's store, then the documents
  // ocisite generates that live in the CAS too (referrers indexes). If any fails, the blobs this
  // build added are removed: the old site stays as it was.
  const stats = { hashed: 0 }
  const progress = new CopyProgress(plan.blobs.length, bytesTotal, opts.onProgress)
  const batches = planBatches(plan, v2, new PlanSource(site, plan, cache, stats), progress.hooks)
  try {
    await copyIntoSite(site, siteStore(site, cache, stats), batches, opts.concurrency)
  } catch (err) {
    await record.save(record.files)
    throw err
  }

  // Every blob is in place: record what the site now publishes (so a crash from here on is
  // finished by the next run), then the documents, /v2/ first and the well-known document last.
  const publishes = publishedOf(plan, { host: opts.host, ...(opts.baseUrl !== undefined ? { baseUrl: opts.baseUrl } : {}), v2: opts.v2, headersFile: opts.headersFile, ...(opts.html ? {} : { html: false }) })
  await savePublished(site, withSummaries(publishes, pages?.summaries))
  const docs = { written: 0, unchanged: 0 }
  for (const d of documents) await writeDocuments(site, d, cache, docs)
  opts.onProgress?.({ type: 'documents', ...docs })

  // Then what is no longer published, documents before the blobs they pointed at; only files on record.
  const { owned, kept, stale } = ownedAfter(record.files, expected, keepBlobs)
  const deleted = await deleteStale(site, stale)
  site.forget()
  await lock.check()
  await record.save(owned)
  await UnreferencedBlobs.update(site, kept)
  // Keep what the next build can use: the site's blobs and inputs that are not scratch copies.
  const keep = new Set<string>()
  for (const rel of owned) keep.add(site.abs(rel))
  for (const b of plan.blobs) if (b.origin && !b.origin.layout.fromArchive) keep.add(b.origin.file)
  const vouched = await cache.save((file) => keep.has(file))
  opts.onProgress?.({ type: 'pruned', files: deleted.length })

  const { counts } = progress
  const outcome = { blobs: { written: counts.copied, skipped: counts.skipped, hashed: stats.hashed, bytesWritten: counts.bytesCopied }, documents: docs, deleted, changes: changesBetween(before, plan.images) }
  // Complete when the saved cache vouches for every file the build owns or took a blob from.
  return { result: resultOf(site.root, opts.host, plan, outcome, false), vouched, complete: vouched === keep.size }
}

/**
 * Write one group of documents: within a group every document is independent, so they are
 * written concurrently; links go before the files that list them. One already in place is left.
 */
async function writeDocuments(site: SitePaths, files: SiteFiles, cache: VerifyCache, docs: { written: number; unchanged: number }): Promise<void> {
  // Checking what is already in place costs a few microseconds on the spot, where a thread-pool
  // round trip per file would cost tens: a no-op rebuild compares thousands of documents.
  await mapLimit([...files.links].sort(([a], [b]) => (a < b ? -1 : 1)), 32, async ([rel, digest]) => {
    await site.parentDir(rel)
    const target = pathOf({ kind: 'blob', digest })
    const a = lstatOrUndefined(site.abs(rel))
    const b = statSync(site.abs(target), { bigint: true })
    const unchanged = a !== undefined && a.ino === b.ino && a.dev === b.dev
    if (unchanged) docs.unchanged++
    else {
      await linkAtomic(site.abs(target), site.abs(rel))
      docs.written++
    }
    // A link is its blob's file: the cache vouches for it under the blob's digest.
    cache.record(site.abs(rel), digest.value, unchanged ? stampOf(a) : undefined)
  })
  await mapLimit([...files.files].sort(([a], [b]) => (a < b ? -1 : 1)), 32, async ([rel, bytes]) => {
    await site.parentDir(rel)
    const st = lstatOrUndefined(site.abs(rel))
    const current = st?.isFile() && st.size === BigInt(bytes.byteLength) ? readIfSize(site.abs(rel), bytes.byteLength) : undefined
    const unchanged = current?.equals(bytes) === true
    if (unchanged) docs.unchanged++
    else {
      await writeFileAtomic(site.abs(rel), bytes)
      docs.written++
    }
    // Compared or written just now: the cache vouches for it (so a later build can trust its stat).
    cache.record(site.abs(rel), digestOf(bytes), unchanged ? stampOf(st!) : undefined)
  })
}

/** Delete stale files (in the order given) and the directories they leave empty; returns those deleted. */
async function deleteStale(site: SitePaths, stale: string[]): Promise<string[]> {
  const deleted: string[] = []
  for (const rel of stale) {
    if ((await site.parentDir(rel, false)) === undefined) continue
    const st = await fs.lstat(site.abs(rel)).catch(() => undefined)
    if (st && !st.isDirectory()) {
      await fs.rm(site.abs(rel), { force: true })
      deleted.push(rel)
    }
    await removeEmptyParents(site, rel)
  }
  return deleted
}

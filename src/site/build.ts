import { promises as fs, statSync } from 'node:fs'
import { ensureDir, linkAtomic, lstatOrUndefined, readSmall, stampOf, writeFileAtomic } from '../oci/atomic.js'
import { mapLimit } from '../concurrency.js'
import { copyBlobs, type CopyItem } from '../store/copy.js'
import type { ContentStore } from '../store/content-store.js'
import { FileStore } from '../store/file-store.js'
import { VerifyCache } from '../store/verify-cache.js'
import type { OciLayout } from '../oci/layout.js'
import { digestOf, parseDigest } from '../oci/digest.js'
import type { Descriptor } from '../oci/descriptor.js'
import { discoveryDocuments, engineTemplates, type SiteFiles } from './documents.js'
import { openInputs, Scratch } from './inputs.js'
import { renderHeadersFile } from './headers-file.js'
import { renderNginx } from './nginx.js'
import { normalizeBuildOptions, type BuildOptions, type NginxOptions, type NormalizedBuildOptions } from './options.js'
import { planSite, type SitePlan } from './plan.js'
import type { ProgressListener } from './progress.js'
import { BuildMemo, buildRequest, type BuildRequest } from './build-memo.js'
import { SiteLayout, SitePaths } from './site-paths.js'
import { v2Tree, type V2Tree } from './v2.js'
import { checkOut, lockSite, OwnedRecord, removeEmptyParents, removeTempFiles, UnreferencedBlobs, type SiteLock } from './site-state.js'
import { loadPublished, publishedOf, savePublished, type Published } from './published.js'
import { OcisiteError } from '../errors.js'

/** What a build published, for `--json` and for callers. */
export interface BuildResult {
  out: string
  host: string
  images: Array<{
    path: string
    tags: Array<{ tag: string; digest: string; mediaType: string; size: number }>
    /** The referrers it lists under /v2/<path>/referrers/, when it has any. */
    referrers?: Array<{ subject: string; digest: string; artifactType?: string }>
  }>
  /** Referrers kept until an image publishes their subject (not served yet), when there are any. */
  pending?: Array<{ subject: string; digest: string; artifactType?: string }>
  /** `hashed`: blobs whose bytes were read and hashed (the rest were trusted by their unchanged stat). */
  blobs: { total: number; written: number; skipped: number; hashed: number; bytesTotal: number; bytesWritten: number }
  documents: { written: number; unchanged: number }
  pruned: number
  nginx?: string
}

/** Build (or update) a static site from OCI layouts. See README.md for the tree it writes. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const opts = await normalizeBuildOptions(options)
  if (opts.headersFile && opts.v2) {
    opts.onProgress?.({ type: 'warning', message: '--headers-file: Netlify and Cloudflare Pages can serve the discovery paths, but not /v2/ (it needs a URL mapped onto one of several files); pass --no-v2 to leave /v2/ out' })
  }
  const scratch = new Scratch()
  try {
    const inputs = await openInputs(opts.images, scratch, opts.maxArchiveSize)
    for (const i of inputs) opts.onProgress?.({ type: 'input', label: i.layout.label, imagePath: i.imagePath })
    // What the site will depend on, taken before anything is read: a later change then shows.
    const memo = opts.verify ? undefined : buildRequest(opts, inputs)
    return await writeSite({ ...opts, inputs: opts.images.map((i) => i.from) }, { kind: 'build', plan: (onProgress) => planSite(inputs, onProgress), ...(memo ? { memo } : {}) })
  } finally {
    await scratch.dispose()
  }
}

/** Everything writing a site needs besides its plan. */
export type SiteWriteOptions = Pick<NormalizedBuildOptions, 'out' | 'host' | 'baseUrl' | 'v2' | 'headersFile' | 'force' | 'wait' | 'concurrency' | 'verify' | 'onProgress'> & {
  nginx?: NginxOptions
  /** The inputs, which must not lie inside the site. */
  inputs: string[]
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

function referrerSummary(subject: string, d: Descriptor): { subject: string; digest: string; artifactType?: string } {
  return { subject, digest: d.digest, ...(d.artifactType ? { artifactType: d.artifactType } : {}) }
}

/** The order deletes go in: documents and links before the blobs they point at. */
function deleteRank(rel: string): number {
  if (rel === SiteLayout.wellKnown || rel === SiteLayout.headersFile) return 0
  if (rel.startsWith(`${SiteLayout.indexDir}/`)) return 1
  // A repository's tag list first, then its tags and referrers lists, then the manifests they name.
  if (rel.startsWith(`${SiteLayout.v2Dir}/`)) return rel.endsWith('/_tags.json') ? 2 : rel.includes('/_manifests/') ? 4 : 3
  return 5 // oci-cas
}

/** A document's current bytes, when it still has the size it was seen with (else undefined: it is rewritten). */
function readIfSize(file: string, size: number): Buffer | undefined {
  try {
    return readSmall(file, size, () => new Error('resized'))
  } catch {
    return undefined
  }
}

/** Write a planned site under its lock: blobs, the record of what it publishes, documents, then deletes. */
export async function writeSite(opts: SiteWriteOptions, mode: WriteMode): Promise<BuildResult> {
  // Rendered before anything is written, so a path nginx cannot take fails the build early.
  const nginxConf = opts.nginx?.file ? await renderNginx({ ...opts.nginx, host: opts.host, v2: opts.v2 }) : undefined
  const site = new SitePaths(opts.out)
  // (An update's caller has already read the site's record, so a directory that is not a site is
  // refused before a lock is made in it.)
  if (mode.kind === 'build') {
    await checkOut(opts.out, opts.inputs, opts.force)
    await ensureDir(opts.out)
  }
  for (const dir of [SiteLayout.stateDir, SiteLayout.casDir, SiteLayout.indexDir, SiteLayout.v2Dir, '.well-known']) await site.parentDir(`${dir}/x`, false)
  const lock = await lockSite(site, { wait: opts.wait, onWait: () => opts.onProgress?.({ type: 'waiting', message: `waiting for another ocisite writing ${site.root}` }) })
  try {
    const cache = await VerifyCache.load(opts.verify ? undefined : site.abs(SiteLayout.verifyCache))
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
      // change can be lost between the read and the write.
      const plan = mode.kind === 'build' ? await mode.plan(onProgress) : await mode.plan(site, await loadPublished(site))
      const written = await writeLocked(site, plan, opts, lock, mode.kind === 'update', cache)
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

/** A build with nothing to do: the last build's result, as it stands now (nothing written). */
function replay({ result, warnings }: { result: BuildResult; warnings: string[] }, onProgress: ProgressListener | undefined): BuildResult {
  for (const message of warnings) onProgress?.({ type: 'warning', message })
  onProgress?.({ type: 'plan', images: result.images.length, tags: result.images.reduce((n, i) => n + i.tags.length, 0), blobs: result.blobs.total, bytes: result.blobs.bytesTotal })
  const documents = { written: 0, unchanged: result.documents.written + result.documents.unchanged }
  onProgress?.({ type: 'documents', ...documents })
  onProgress?.({ type: 'pruned', files: 0 })
  return { ...result, blobs: { ...result.blobs, written: 0, skipped: result.blobs.total, hashed: 0, bytesWritten: 0 }, documents, pruned: 0 }
}

async function writeLocked(site: SitePaths, plan: SitePlan, opts: SiteWriteOptions, lock: SiteLock, keepBlobs: boolean, cache: VerifyCache): Promise<{ result: BuildResult; vouched: number; complete: boolean }> {
  const bytesTotal = plan.blobs.reduce((n, b) => n + b.size, 0)
  opts.onProgress?.({ type: 'plan', images: plan.images.length, tags: plan.images.reduce((n, i) => n + i.tags.length, 0), blobs: plan.blobs.length, bytes: bytesTotal })

  const discovery = discoveryDocuments(plan, engineTemplates(opts.baseUrl))
  const v2: V2Tree | undefined = opts.v2 ? v2Tree(plan) : undefined
  // Dependency order: what a document names is always written before it.
  const documents: SiteFiles[] = [...(v2 ? [v2, v2.siteWide] : []), discovery.indexes, discovery.wellKnown]
  if (opts.headersFile) documents.push({ files: new Map([[SiteLayout.headersFile, Buffer.from(renderHeadersFile())]]), links: new Map() })

  // What this build owns once it is done; recorded together with the old record before any write,
  // so after a crash at any point every file ocisite wrote is still on record.
  const expected = new Set<string>([...plan.blobs.map((b) => SiteLayout.blob(b.digest)), ...(v2?.blobs ?? []).map((b) => SiteLayout.blob(b.digest))])
  for (const d of documents) for (const rel of [...d.links.keys(), ...d.files.keys()]) expected.add(rel)
  // Every directory the build will write in is checked first: a symlink anywhere stops it before any write.
  await mapLimit([...new Set([...expected].map((rel) => rel.slice(0, rel.lastIndexOf('/') + 1)))], 32, (dir) => site.parentDir(`${dir}x`, false))
  const record = await OwnedRecord.load(site)
  await removeTempFiles(site)
  await record.save([...record.files, ...expected])

  // Blobs first, copied concurrently from each input layout into the site's store. If any fails,
  // the copy's undo removes the blobs this build added: the old site stays as it was.
  const stats = { hashed: 0 }
  const siteStore = new FileStore({ label: site.root, blobPath: (d) => site.abs(SiteLayout.blob(d)), prepare: (d) => site.parentDir(SiteLayout.blob(d)).then(() => undefined), cache, stats })
  const inputStores = new Map<OciLayout, FileStore>()
  const plannedFiles = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, { file: b.origin.file, stamp: b.origin.stamp }] as const] : [])))
  const storeOf = (layout: OciLayout) => {
    let s = inputStores.get(layout)
    // The plan already checked each blob file (regular, inside the layout, the right size).
    if (!s) inputStores.set(layout, (s = new FileStore({ label: layout.label, blobPath: (d) => layout.paths.blob(d), readable: (desc) => plannedFiles.get(desc.digest) ?? layout.statBlob(desc), cache, stats })))
    return s
  }
  const generated = (bytes: Buffer): ContentStore => ({ label: 'generated', exists: async () => false, push: async () => undefined, fetch: async () => [{ label: 'generated', open: async () => ({ stream: [bytes] }) }] })
  // A blob only the site holds (an update keeps what it publishes) must still be there, intact.
  const siteOnly: ContentStore = {
    label: site.root,
    exists: async () => false,
    push: async () => undefined,
    fetch: async (desc) => {
      throw new OcisiteError('BLOB_MISSING', `${site.root}: blob ${desc.digest}, which the site publishes, is missing or damaged; add the image again, or rebuild the site from its inputs`, { digest: desc.digest })
    },
  }
  const items: CopyItem[] = plan.blobs.map((b) => ({ desc: { mediaType: '', digest: b.digest.value, size: b.size }, from: b.origin ? storeOf(b.origin.layout) : siteOnly }))
  const generatedItems: CopyItem[] = (v2?.blobs ?? []).map((b) => ({ desc: { mediaType: '', digest: b.digest.value, size: b.bytes.byteLength }, from: generated(b.bytes) }))
  const counts = { written: 0, skipped: 0, bytesWritten: 0, bytesDone: 0 }
  // One transaction over both copies: whatever either added is removed if anything fails.
  const added: Descriptor[] = []
  const touched: Descriptor[] = []
  const undo = async (copied: Descriptor[], attempted: Descriptor[]) => {
    for (const d of [...added, ...copied]) await siteStore.remove(d)
    // The shard directories made for them go too (rmdir spares any still in use).
    for (const d of [...touched, ...attempted]) await removeEmptyParents(site, SiteLayout.blob(parseDigest(d.digest)))
  }
  try {
    const tx = await copyBlobs(siteStore, items, {
      concurrency: opts.concurrency,
      onBytes: (n) => opts.onProgress?.({ type: 'blob-bytes', bytes: n }),
      onBlob: (desc, action, done) => {
        if (action === 'copied') {
          counts.written++
          counts.bytesWritten += desc.size
        } else counts.skipped++
        counts.bytesDone += desc.size
        opts.onProgress?.({ type: 'blob', digest: desc.digest, size: desc.size, action: action === 'copied' ? 'written' : 'skipped', done, total: items.length, bytesDone: counts.bytesDone, bytesTotal })
      },
      undo,
    })
    added.push(...tx.copied)
    touched.push(...items.map((i) => i.desc))
    // Then the documents ocisite generates that live in the CAS too (referrers indexes).
    await copyBlobs(siteStore, generatedItems, { concurrency: opts.concurrency, undo })
  } catch (err) {
    await record.save(record.files)
    throw err
  }

  // Every blob is in place: record what the site now publishes (so a crash from here on is
  // finished by the next run), then the documents, /v2/ first and the well-known document last.
  await savePublished(site, publishedOf(plan, { host: opts.host, ...(opts.baseUrl !== undefined ? { baseUrl: opts.baseUrl } : {}), v2: opts.v2, headersFile: opts.headersFile }))
  const docs = { written: 0, unchanged: 0 }
  // Within a group every document is independent, so they are written concurrently; the groups
  // themselves go in dependency order, and links before the files that list them.
  const apply = async (files: SiteFiles) => {
    // Checking what is already in place costs a few microseconds on the spot, where a thread-pool
    // round trip per file would cost tens: a no-op rebuild compares thousands of documents.
    await mapLimit([...files.links].sort(), 32, async ([rel, target]) => {
      await site.parentDir(rel)
      const a = lstatOrUndefined(site.abs(rel))
      const b = statSync(site.abs(target), { bigint: true })
      const unchanged = a !== undefined && a.ino === b.ino && a.dev === b.dev
      if (unchanged) docs.unchanged++
      else {
        await linkAtomic(site.abs(target), site.abs(rel))
        docs.written++
      }
      // A link is its blob's file: the cache vouches for it under the blob's digest.
      cache.record(site.abs(rel), SiteLayout.blobDigest(target), unchanged ? stampOf(a) : undefined)
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
  for (const d of documents) await apply(d)
  opts.onProgress?.({ type: 'documents', ...docs })

  // Then what is no longer published, documents before the blobs they pointed at; only files on record.
  // An update keeps every blob: a pull that read an older index may still need it (prune removes it later).
  const kept = keepBlobs ? [...record.files].filter((rel) => !expected.has(rel) && deleteRank(rel) === 5) : []
  const owned = new Set([...expected, ...kept])
  const stale = [...record.files].filter((rel) => !owned.has(rel)).sort((a, b) => deleteRank(a) - deleteRank(b) || (a < b ? -1 : 1))
  let pruned = 0
  for (const rel of stale) {
    if ((await site.parentDir(rel, false)) === undefined) continue
    const st = await fs.lstat(site.abs(rel)).catch(() => undefined)
    if (st && !st.isDirectory()) {
      await fs.rm(site.abs(rel), { force: true })
      pruned++
    }
    await removeEmptyParents(site, rel)
  }
  site.forget()
  await lock.check()
  await record.save(owned)
  await UnreferencedBlobs.update(site, kept)
  // Keep what the next build can use: the site's blobs and inputs that are not scratch copies.
  const keep = new Set([...[...owned].map((rel) => site.abs(rel)), ...plan.blobs.flatMap((b) => (b.origin && !b.origin.layout.fromArchive ? [b.origin.file] : []))])
  const vouched = await cache.save((file) => keep.has(file))
  opts.onProgress?.({ type: 'pruned', files: pruned })

  const result: BuildResult = {
    out: site.root,
    host: opts.host,
    images: plan.images.map((i) => {
      const referrers = [...i.referrers].flatMap(([subject, list]) => list.map((d) => referrerSummary(subject, d)))
      return { path: i.path, tags: i.tags.map((t) => ({ tag: t.tag, digest: t.entry.digest, mediaType: t.entry.mediaType, size: t.entry.size })), ...(referrers.length > 0 ? { referrers } : {}) }
    }),
    blobs: { total: plan.blobs.length, written: counts.written, skipped: counts.skipped, hashed: stats.hashed, bytesTotal, bytesWritten: counts.bytesWritten },
    documents: docs,
    pruned,
  }
  if (plan.pending.length > 0) result.pending = plan.pending.map((p) => referrerSummary(p.subject, p.descriptor))
  // Complete when the saved cache vouches for every file the build owns or took a blob from.
  return { result, vouched, complete: vouched === keep.size }
}

import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Digest } from '../oci/digest.js'
import { ensureDir, linkAtomic, writeFileAtomic } from '../oci/atomic.js'
import { BlobStore } from './blob-store.js'
import { discoveryDocuments, engineTemplates, type SiteFiles } from './documents.js'
import { openInputs, Scratch } from './inputs.js'
import { renderHeadersFile } from './headers-file.js'
import { renderNginx } from './nginx.js'
import { normalizeBuildOptions, type BuildOptions, type NormalizedBuildOptions } from './options.js'
import { planSite, type SitePlan } from './plan.js'
import { SiteLayout, SitePaths } from './site-paths.js'
import { v2Tree, type V2Tree } from './v2.js'
import { checkOut, lockSite, OwnedRecord, removeEmptyParents, removeTempFiles, type SiteLock } from './site-state.js'

/** What a build published, for `--json` and for callers. */
export interface BuildResult {
  out: string
  host: string
  images: Array<{ path: string; tags: Array<{ tag: string; digest: string; mediaType: string; size: number }> }>
  blobs: { total: number; written: number; skipped: number; bytesTotal: number; bytesWritten: number }
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
    const plan = await planSite(inputs, opts.onProgress)
    return await writeSite(plan, opts)
  } finally {
    await scratch.dispose()
  }
}

/** The order deletes go in: documents and links before the blobs they point at. */
function deleteRank(rel: string): number {
  if (rel === SiteLayout.wellKnown || rel === SiteLayout.headersFile) return 0
  if (rel.startsWith(`${SiteLayout.indexDir}/`)) return 1
  // A repository's tag list first, then its tags and referrers lists, then the manifests they name.
  if (rel.startsWith(`${SiteLayout.v2Dir}/`)) return rel.endsWith('/_tags.json') ? 2 : rel.includes('/_manifests/') ? 4 : 3
  return 5 // oci-cas
}

async function writeSite(plan: SitePlan, opts: NormalizedBuildOptions): Promise<BuildResult> {
  // Rendered before anything is written, so a path nginx cannot take fails the build early.
  const nginxConf = opts.nginx.file ? await renderNginx({ ...opts.nginx, host: opts.host, v2: opts.v2 }) : undefined
  await checkOut(opts.out, opts.images.map((i) => i.from), opts.force)
  await ensureDir(opts.out)
  const site = new SitePaths(opts.out)
  for (const dir of [SiteLayout.stateDir, SiteLayout.casDir, SiteLayout.indexDir, SiteLayout.v2Dir, '.well-known']) await site.parentDir(`${dir}/x`, false)
  const lock = await lockSite(site, { wait: opts.wait, onWait: () => opts.onProgress?.({ type: 'waiting', message: `waiting for another ocisite writing ${site.root}` }) })
  try {
    return await writeLocked(site, plan, opts, nginxConf, lock)
  } finally {
    await lock.release()
  }
}

async function writeLocked(site: SitePaths, plan: SitePlan, opts: NormalizedBuildOptions, nginxConf: string | undefined, lock: SiteLock): Promise<BuildResult> {
  const store = new BlobStore(site)
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
  for (const rel of expected) await site.parentDir(rel, false)
  const record = await OwnedRecord.load(site)
  await removeTempFiles(site)
  await record.save([...record.files, ...expected])

  // Blobs first. If any fails, remove the ones this build added: the old site stays as it was.
  const written: Digest[] = []
  const attempted: Digest[] = []
  const counts = { written: 0, skipped: 0, bytesWritten: 0, bytesDone: 0 }
  try {
    let done = 0
    for (const blob of plan.blobs) {
      attempted.push(blob.digest)
      const action = await store.put(blob, (n) => opts.onProgress?.({ type: 'blob-bytes', bytes: n }))
      if (action === 'written') {
        written.push(blob.digest)
        counts.written++
        counts.bytesWritten += blob.size
      } else counts.skipped++
      counts.bytesDone += blob.size
      opts.onProgress?.({ type: 'blob', digest: blob.digest.value, size: blob.size, action, done: ++done, total: plan.blobs.length, bytesDone: counts.bytesDone, bytesTotal })
    }
    for (const blob of v2?.blobs ?? []) {
      attempted.push(blob.digest)
      if ((await store.putBytes(blob.digest, blob.bytes)) === 'written') written.push(blob.digest)
    }
  } catch (err) {
    // Remove what this build added, and the shard directories it made for them (rmdir spares any in use).
    for (const d of written) await store.remove(d)
    for (const d of attempted) await removeEmptyParents(site, SiteLayout.blob(d))
    await record.save(record.files)
    throw err
  }

  // Every blob is in place: now the documents, /v2/ first and the well-known document last.
  const docs = { written: 0, unchanged: 0 }
  const apply = async (files: SiteFiles) => {
    for (const [rel, target] of [...files.links].sort()) {
      await site.parentDir(rel)
      const [a, b] = await Promise.all([fs.lstat(site.abs(rel)).catch(() => undefined), fs.stat(site.abs(target))])
      if (a && a.ino === b.ino && a.dev === b.dev) docs.unchanged++
      else {
        await linkAtomic(site.abs(target), site.abs(rel))
        docs.written++
      }
    }
    for (const [rel, bytes] of [...files.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await site.parentDir(rel)
      const st = await fs.lstat(site.abs(rel)).catch(() => undefined)
      const current = st?.isFile() ? await fs.readFile(site.abs(rel)) : undefined
      if (current?.equals(bytes)) docs.unchanged++
      else {
        await writeFileAtomic(site.abs(rel), bytes)
        docs.written++
      }
    }
  }
  for (const d of documents) await apply(d)
  opts.onProgress?.({ type: 'documents', ...docs })

  // Then what is no longer published, documents before the blobs they pointed at; only files on record.
  const stale = [...record.files].filter((rel) => !expected.has(rel)).sort((a, b) => deleteRank(a) - deleteRank(b) || (a < b ? -1 : 1))
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
  await record.save(expected)
  opts.onProgress?.({ type: 'pruned', files: pruned })

  if (opts.nginx.file && nginxConf !== undefined) await writeFileAtomic(opts.nginx.file, Buffer.from(nginxConf))

  return {
    out: site.root,
    host: opts.host,
    images: plan.images.map((i) => ({ path: i.path, tags: i.tags.map((t) => ({ tag: t.tag, digest: t.entry.digest, mediaType: t.entry.mediaType, size: t.entry.size })) })),
    blobs: { total: plan.blobs.length, written: counts.written, skipped: counts.skipped, bytesTotal, bytesWritten: counts.bytesWritten },
    documents: docs,
    pruned,
    ...(opts.nginx.file ? { nginx: opts.nginx.file } : {}),
  }
}

import { promises as fs } from 'node:fs'
import path from 'node:path'
import fg from 'fast-glob'
import { OcisiteError } from '../errors.js'
import type { Digest } from '../oci/digest.js'
import { ensureDir, isTempName, linkAtomic, writeFileAtomic } from '../oci/atomic.js'
import { BlobStore } from './blob-store.js'
import { discoveryDocuments, engineTemplates, type SiteFiles } from './documents.js'
import { openInputs, Scratch } from './inputs.js'
import { renderHeadersFile } from './headers-file.js'
import { renderNginx } from './nginx.js'
import { normalizeBuildOptions, type BuildOptions, type NormalizedBuildOptions } from './options.js'
import { planSite, type SitePlan } from './plan.js'
import { SiteLayout, SitePaths } from './site-paths.js'
import { v2Tree, type V2Tree } from './v2.js'

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
  const scratch = new Scratch()
  try {
    const inputs = await openInputs(opts.images, scratch)
    for (const i of inputs) opts.onProgress?.({ type: 'input', label: i.layout.label, imagePath: i.imagePath })
    const plan = await planSite(inputs, opts.onProgress)
    return await writeSite(plan, opts)
  } finally {
    await scratch.dispose()
  }
}

async function prepareOut(out: string): Promise<SitePaths> {
  const st = await fs.stat(out).catch(() => undefined)
  if (st && !st.isDirectory()) throw new OcisiteError('CONFIG_INVALID', `--out ${out} exists and is not a directory`, { file: out })
  await ensureDir(out)
  return new SitePaths(out)
}

async function writeSite(plan: SitePlan, opts: NormalizedBuildOptions): Promise<BuildResult> {
  // Rendered before anything is written, so a path nginx cannot take fails the build early.
  const nginxConf = opts.nginx.file ? await renderNginx({ ...opts.nginx, host: opts.host, v2: opts.v2 }) : undefined
  const site = await prepareOut(opts.out)
  const store = new BlobStore(site)
  const bytesTotal = plan.blobs.reduce((n, b) => n + b.size, 0)
  opts.onProgress?.({ type: 'plan', images: plan.images.length, tags: plan.images.reduce((n, i) => n + i.tags.length, 0), blobs: plan.blobs.length, bytes: bytesTotal })

  const discovery = discoveryDocuments(plan, engineTemplates(opts.baseUrl))
  const v2: V2Tree | undefined = opts.v2 ? v2Tree(plan) : undefined

  // Blobs first. If any fails, remove the ones this build added: the old site stays as it was.
  const written: Digest[] = []
  const counts = { written: 0, skipped: 0, bytesWritten: 0, bytesDone: 0 }
  try {
    let done = 0
    for (const blob of plan.blobs) {
      const action = await store.put(blob)
      if (action === 'written') {
        written.push(blob.digest)
        counts.written++
        counts.bytesWritten += blob.size
      } else counts.skipped++
      counts.bytesDone += blob.size
      opts.onProgress?.({ type: 'blob', digest: blob.digest.value, size: blob.size, action, done: ++done, total: plan.blobs.length, bytesDone: counts.bytesDone, bytesTotal })
    }
    for (const blob of v2?.blobs ?? []) if ((await store.putBytes(blob.digest, blob.bytes)) === 'written') written.push(blob.digest)
  } catch (err) {
    await Promise.all(written.map((d) => store.remove(d)))
    throw err
  }

  // Every blob is in place: now the documents, /v2/ first and the well-known document last.
  const docs = { written: 0, unchanged: 0 }
  const expected = new Set<string>([...plan.blobs.map((b) => SiteLayout.blob(b.digest)), ...(v2?.blobs ?? []).map((b) => SiteLayout.blob(b.digest))])
  const apply = async (files: SiteFiles) => {
    for (const [rel, target] of [...files.links].sort()) {
      expected.add(rel)
      const [a, b] = await Promise.all([fs.stat(site.abs(rel)).catch(() => undefined), fs.stat(site.abs(target))])
      if (a && a.ino === b.ino && a.dev === b.dev) docs.unchanged++
      else {
        await linkAtomic(site.abs(target), site.abs(rel))
        docs.written++
      }
    }
    for (const [rel, bytes] of [...files.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      expected.add(rel)
      const current = await fs.readFile(site.abs(rel)).catch(() => undefined)
      if (current?.equals(bytes)) docs.unchanged++
      else {
        await writeFileAtomic(site.abs(rel), bytes)
        docs.written++
      }
    }
  }
  if (v2) await apply(v2)
  await apply(discovery.indexes)
  await apply(discovery.wellKnown)
  if (opts.headersFile) await apply({ files: new Map([[SiteLayout.headersFile, Buffer.from(renderHeadersFile())]]), links: new Map() })
  opts.onProgress?.({ type: 'documents', ...docs })

  const pruned = await prune(site, expected)
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

/**
 * Remove what the new site no longer publishes (dropped tags, images and blobs, stale temporary
 * files), so an updated site equals a fresh build. Only ocisite's own folders are touched.
 */
async function prune(site: SitePaths, expected: Set<string>): Promise<number> {
  const owned = [SiteLayout.indexDir, SiteLayout.casDir, SiteLayout.v2Dir, '.well-known']
  const present = await fg(owned.map((d) => `${d}/**`), { cwd: site.root, dot: true, onlyFiles: false, markDirectories: true, followSymbolicLinks: false })
  let removed = 0
  for (const rel of present.filter((p) => !p.endsWith('/'))) {
    // In .well-known/ only our document (and our temporary files) are ours; others belong to the publisher.
    const ours = !rel.startsWith('.well-known/') || rel === SiteLayout.wellKnown || isTempName(path.posix.basename(rel))
    if (ours && !expected.has(rel)) {
      await fs.rm(site.abs(rel), { force: true })
      removed++
    }
  }
  // Deepest first, drop directories left empty.
  for (const dir of present.filter((p) => p.endsWith('/')).sort((a, b) => b.length - a.length)) {
    const abs = site.abs(dir.slice(0, -1))
    if ((await fs.readdir(abs)).length === 0) await fs.rmdir(abs)
  }
  return removed
}

import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { parseDigest } from '../oci/digest.js'
import { parseImageName } from '../oci/image-name.js'
import { successors } from '../content/graph.js'
import { OciLayout } from '../content/layout/oci-layout.js'
import { TITLE } from '../pack/pack.js'
import { writeVerified } from '../content/ingest/verify.js'
import { extractTar, safeRelative } from './extract.js'
import { pinFor } from './lock.js'
import { pull, type PullOptions } from './pull.js'

// lock and pinFor lived here; they stay importable from this module.
export { lock, pinFor, readLockFile, type LockFile, type LockOptions, type LockResult, type Pin } from './lock.js'

/** The cache `get` pulls into: one OCI layout, content-addressed, under $XDG_CACHE_HOME/ocisite. */
export function cacheLayout(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ocisite', 'layout')
}

export interface GetOptions extends PullOptions {
  /** Fetch by the digest a lock file pins, never by tag. */
  lock?: string
  /** The cache layout (default: $XDG_CACHE_HOME/ocisite/layout). */
  cache?: string
}

export interface GetResult {
  name: string
  dir: string
  digest: string
  files: string[]
  blobs: { fetched: number; cached: number }
}

const isTarGzip = (t: string) => /tar\+gzip$|tar\.gzip$/.test(t)
const isTar = (t: string) => /(^|\.)tar$/.test(t)

/**
 * Resolve an artifact, pull it into the cache (keyed by digest: an unchanged tag downloads
 * nothing), then write its files into `dir`: titled layers by their title, tar layers extracted
 * safely. Every byte is verified before it is written, and nothing is written outside `dir`.
 */
export async function get(nameText: string, dir: string, options: GetOptions = {}): Promise<GetResult> {
  const name = parseImageName(nameText)
  if (!name.fragment) throw new OcisiteError('NAME_INVALID', `${nameText}: name a tag (NAME#TAG)`, { name: nameText })
  const pinned = options.lock ? await pinFor(options.lock, nameText) : undefined
  const cache = options.cache ?? cacheLayout()
  // The cache is ocisite's own: its blobs are remembered by stat, not hashed again on every get.
  const pulled = await pull(nameText, cache, { ...options, referrers: false, verifyCache: `${cache}.verified.json`, force: true, ...(pinned ? { pinned } : {}) })
  const root = pulled.roots[0]!
  const layout = await OciLayout.open(cache)
  const node = await successors(layout, { mediaType: root.mediaType, digest: root.digest, size: root.size })
  if (node.kind !== 'manifest') throw new OcisiteError('PROTOCOL', `${nameText}: ${root.digest} is not an image manifest with layers (pass --platform to pick one manifest of an index)`, { digest: root.digest })
  // A manifest's successors are its config, then its layers.
  const layers = node.children.slice(1)

  const target = path.resolve(dir)
  const st = await fs.stat(target).catch(() => undefined)
  if (st && !st.isDirectory()) throw new OcisiteError('CONFIG_INVALID', `${target} is a file; name a directory to write the artifact's files into`, { file: target })
  await fs.mkdir(target, { recursive: true })
  const staging = path.join(target, `.ocisite-get-${randomBytes(6).toString('hex')}`)
  await fs.mkdir(staging, { mode: 0o755 })
  const files: string[] = []
  try {
    for (const layer of layers) {
      const digest = parseDigest(layer.digest)
      const expected = { digest, size: layer.size, label: `${nameText} layer ${layer.digest}` }
      const file = layout.paths.blob(digest)
      // Each layer is verified again as it leaves the cache, in the one read that writes it out.
      const title = layer.annotations?.[TITLE]
      if (isTarGzip(layer.mediaType) || (isTar(layer.mediaType) && title === undefined)) {
        await extractTar(file, isTarGzip(layer.mediaType), staging, expected)
      } else if (title !== undefined) {
        const rel = safeRelative(title, expected.label, 'title')
        await writeVerified({ file }, path.join(staging, ...rel.split('/')), expected)
      }
    }
    // Everything is in place and checked: move it into DIR. Directories merge with what is
    // there; a file of the artifact replaces the file of the same name, and nothing else is touched.
    for (const entry of (await fs.readdir(staging)).sort()) {
      await moveInto(path.join(staging, entry), path.join(target, entry))
      files.push(entry)
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true })
  }
  return { name: nameText, dir: target, digest: root.digest, files, blobs: { fetched: pulled.blobs.fetched, cached: pulled.blobs.cached } }
}

/** Move `from` to `to`: directories merged entry by entry, anything else replaced. */
async function moveInto(from: string, to: string): Promise<void> {
  const [src, dest] = await Promise.all([fs.lstat(from), fs.lstat(to).catch(() => undefined)])
  if (src.isDirectory() && dest?.isDirectory()) {
    for (const entry of await fs.readdir(from)) await moveInto(path.join(from, entry), path.join(to, entry))
    return
  }
  if (dest) await fs.rm(to, { recursive: true, force: true })
  await fs.rename(from, to)
}

import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import picomatch from 'picomatch'
import { OcisiteError } from '../errors.js'
import { parseDescriptor, REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { parseImageName } from '../oci/image-name.js'
import { parseJsonObject } from '../oci/json.js'
import { OciLayout } from '../oci/layout.js'
import { TITLE } from '../oci/pack.js'
import { writeFileAtomic } from '../oci/atomic.js'
import { writeVerified } from '../store/verify.js'
import { extractTar, safeRelative } from './extract.js'
import { pull, type PullOptions } from './pull.js'
import { resolve, type ResolveOptions } from './resolve.js'

/** The cache `get` pulls into: one OCI layout, content-addressed, under $XDG_CACHE_HOME/ocisite. */
export function cacheLayout(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'ocisite', 'layout')
}

/** A lock file: every name pinned to the descriptor it resolved to. */
export interface LockFile {
  lockVersion: 1
  pins: Array<{ name: string; digest: string; mediaType: string; size: number }>
}

export interface LockOptions extends ResolveOptions {
  /** Where to write the lock file. */
  out: string
}

/**
 * Pin names to digests. A name's tag may be a glob (`example.com/app#v*`): every tag of the
 * image matching it is pinned.
 */
export async function lock(names: string[], options: LockOptions): Promise<LockFile> {
  if (names.length === 0) throw new OcisiteError('CONFIG_INVALID', 'lock: name what to pin (NAME#TAG, or NAME#GLOB)')
  const pins = new Map<string, LockFile['pins'][number]>()
  for (const text of names) {
    const name = parseImageName(text)
    const glob = /[*?[\]{}]/.test(name.fragment)
    const resolved = await resolve(glob ? text.slice(0, text.indexOf('#')) : text, options)
    const match = glob ? picomatch(name.fragment, { dot: true }) : undefined
    let found = 0
    for (const roots of Object.values(resolved)) {
      for (const r of roots) {
        const tag = r.descriptor.annotations?.[REF_NAME] ?? name.fragment
        if (match && !match(tag)) continue
        const key = `${name.host}/${name.path}#${tag}`
        pins.set(key, { name: key, digest: r.descriptor.digest, mediaType: r.descriptor.mediaType, size: r.descriptor.size })
        found++
      }
    }
    if (found === 0) throw new OcisiteError('NOT_FOUND', `${text}: no tag matches`, { name: text })
  }
  const file: LockFile = { lockVersion: 1, pins: [...pins.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) }
  await writeFileAtomic(path.resolve(options.out), Buffer.from(`${JSON.stringify(file, null, 2)}\n`))
  return file
}

/** The pinned descriptor for a name, from a lock file. */
export async function pinFor(lockFile: string, nameText: string): Promise<Descriptor> {
  const bytes = await fs.readFile(lockFile).catch(() => {
    throw new OcisiteError('INPUT_NOT_FOUND', `--lock ${lockFile}: no such file`, { file: lockFile })
  })
  const doc = parseJsonObject(bytes, lockFile)
  if (doc.lockVersion !== 1 || !Array.isArray(doc.pins)) throw new OcisiteError('CONFIG_INVALID', `${lockFile}: not an ocisite lock file (lockVersion 1)`, { file: lockFile })
  const name = parseImageName(nameText)
  const key = `${name.host}/${name.path}#${name.fragment}`
  const pin = (doc.pins as Array<Record<string, unknown>>).find((p) => p.name === key)
  if (!pin) throw new OcisiteError('NOT_FOUND', `${key} is not pinned in ${lockFile}; run ocisite lock ${key} again`, { name: key })
  const { parsedDigest: _, ...desc } = parseDescriptor({ mediaType: pin.mediaType, digest: pin.digest, size: pin.size }, `${lockFile} ${key}`)
  return desc
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
  const pulled = await pull(nameText, cache, { ...options, referrers: false, verifyCache: `${cache}.verified.json`, ...(pinned ? { pinned } : {}) })
  const root = pulled.roots[0]!
  const layout = await OciLayout.open(cache)
  const manifest = parseJsonObject(await layout.readBlob({ digest: root.digest, size: root.size }), `${nameText} ${root.digest}`)
  if (!Array.isArray(manifest.layers)) throw new OcisiteError('PROTOCOL', `${nameText}: ${root.digest} is not an image manifest with layers (pass --platform to pick one manifest of an index)`, { digest: root.digest })
  const layers = manifest.layers.map((l, i) => parseDescriptor(l, `${nameText} layers[${i}]`))

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

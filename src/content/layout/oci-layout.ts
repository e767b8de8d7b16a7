import { readdirSync, realpathSync, promises as fs } from 'node:fs'
import path from 'node:path'
import { lstatOrUndefined, readSmall, stampOf, writeFileAtomic, type FileStamp } from '../../fs/atomic.js'
import { OcisiteError } from '../../errors.js'
import { parseDescriptor, REF_NAME, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest, type Digest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { MediaType } from '../../oci/media-types.js'
import { FileStore } from '../file-store.js'
import { fetchAll } from '../read.js'
import type { Blob, Deleter, ReferrerFinder, Storage } from '../storage.js'
import { VerifyCache } from '../verify-cache.js'
import { LayoutPaths } from './layout-paths.js'
import { scanReferrers, type ScanOptions, type ScannedReferrer } from './referrer-scan.js'

/** A blob as found in a layout: its checked location and the stamp taken while checking it. */
export interface BlobFile {
  digest: Digest
  size: number
  file: string
  /** Its stamp, taken while checking it (a verify cache can use it). */
  stamp: FileStamp
}

export interface LayoutOptions {
  /** How to name the layout in messages (a directory, or the archive it came from); default: its path. */
  label?: string
  /** Extracted from an archive into a scratch directory (its files do not outlive the build). */
  fromArchive?: boolean
  /** Where verified blob files are remembered by stat (default: in memory, for this run). */
  cache?: VerifyCache
}

/**
 * An OCI image layout, read and written through one type (as go-containerregistry's layout.Path):
 * its index.json and tagged entries, and its blobs as a content store. Every byte read from it is
 * untrusted: a blob is used only as a regular file of the right size inside the layout, and its
 * bytes are verified as they are read. A ReferrerFinder too: the manifests in it whose `subject`
 * is a given manifest (index.json entries and small blobs).
 */
export class OciLayout implements Storage, Deleter, ReferrerFinder {
  readonly paths: LayoutPaths
  readonly label: string
  readonly fromArchive: boolean
  /** Its blob files as a store: the verify cache's "already there?" policy, and verified pushes. */
  readonly blobs: FileStore
  private realRoot = ''

  private constructor(root: string, options: LayoutOptions) {
    this.paths = new LayoutPaths(root)
    this.label = options.label ?? root
    this.fromArchive = options.fromArchive ?? false
    this.blobs = new FileStore({ label: this.label, blobPath: (d) => this.paths.blob(d), cache: options.cache ?? VerifyCache.inMemory() })
  }

  /** Open and check a layout: `oci-layout` and `index.json` must be present and valid. */
  static async open(root: string, options: LayoutOptions = {}): Promise<OciLayout> {
    const layout = new OciLayout(root, options)
    try {
      layout.realRoot = realpathSync(layout.paths.root)
    } catch (err) {
      throw new OcisiteError('INPUT_NOT_FOUND', `${layout.label}: no such directory`, { file: layout.label }, { cause: err })
    }
    const marker = layout.readSmallFile(layout.paths.ociLayout, 'oci-layout')
    const version = parseJsonObject(marker, layout.where('oci-layout')).imageLayoutVersion
    if (typeof version !== 'string') {
      throw new OcisiteError('LAYOUT_INVALID', `${layout.where('oci-layout')}: imageLayoutVersion is missing`, { file: layout.paths.ociLayout })
    }
    if (!/^1\.\d+\.\d+$/.test(version)) {
      throw new OcisiteError('LAYOUT_INVALID', `${layout.where('oci-layout')}: imageLayoutVersion "${version}" is not 1.x; this layout needs a newer reader`, { file: layout.paths.ociLayout })
    }
    layout.readSmallFile(layout.paths.indexJson, 'index.json')
    return layout
  }

  /** Open `root` as a layout to write into, creating `oci-layout` and an empty `index.json` when absent. */
  static async create(root: string, options: LayoutOptions = {}): Promise<OciLayout> {
    const layout = new OciLayout(root, options)
    if (!lstatOrUndefined(layout.paths.ociLayout)) {
      await writeFileAtomic(layout.paths.ociLayout, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })))
    }
    if (!lstatOrUndefined(layout.paths.indexJson)) await layout.writeIndex([])
    layout.realRoot = realpathSync(layout.paths.root)
    return layout
  }

  // --- index.json -----------------------------------------------------------------------------

  /** The top-level index entries, validated. `manifests: null` (as `umoci init` writes) is empty when `allowNull`. */
  async index(allowNull = false): Promise<{ manifests: Descriptor[] }> {
    const bytes = this.readSmallFile(this.paths.indexJson, 'index.json')
    const where = this.where('index.json')
    const doc = parseJsonObject(bytes, where)
    if (allowNull && doc.manifests === null) return { manifests: [] }
    if (!Array.isArray(doc.manifests)) throw new OcisiteError('LAYOUT_INVALID', `${where}: "manifests" is not an array`, { file: this.paths.indexJson })
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${where} manifests[${i}]`))
    return { manifests }
  }

  /** The entries of a layout this program writes, as they are (no entry is checked). */
  async readIndex(): Promise<Descriptor[]> {
    const doc = parseJsonObject(await fs.readFile(this.paths.indexJson), this.paths.indexJson)
    return Array.isArray(doc.manifests) ? (doc.manifests as Descriptor[]) : []
  }

  async writeIndex(manifests: Descriptor[]): Promise<void> {
    const doc = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }
    await writeFileAtomic(this.paths.indexJson, Buffer.from(`${JSON.stringify(doc, null, 2)}\n`))
  }

  /** Add a descriptor to index.json, tagged when `tag` is given; an entry with the same tag is replaced. */
  async addToIndex(desc: Descriptor, tag?: string): Promise<Descriptor> {
    const entry: Descriptor = tag === undefined ? desc : { ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME]: tag } }
    const current = await this.readIndex()
    const kept = current.filter((d) =>
      tag === undefined ? !(d.digest === desc.digest && d.annotations?.[REF_NAME] === undefined) : d.annotations?.[REF_NAME] !== tag,
    )
    await this.writeIndex([...kept, entry])
    return entry
  }

  // --- blobs ----------------------------------------------------------------------------------

  /** Store bytes as a blob (unless the layout already holds them, verified) and return its descriptor. */
  async putBytes(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra }
    if (!(await this.exists(desc))) await this.push(desc, { stream: [bytes], label: this.label })
    return desc
  }

  /** Serialise a JSON document once and store those exact bytes. */
  async putJson(value: unknown, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    return this.putBytes(Buffer.from(JSON.stringify(value)), mediaType, extra)
  }

  exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.exists(desc)
  }

  /** A blob's bytes, from its file once it is found to be a regular file of the right size inside the layout. */
  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    const { file, stamp } = this.statBlob(desc)
    return use({ file, stamp, label: this.label })
  }

  push(desc: Descriptor, blob: Blob, onBytes?: (n: number) => void): Promise<void> {
    return this.blobs.push(desc, blob, onBytes)
  }

  delete(desc: Descriptor): Promise<void> {
    return this.blobs.delete(desc)
  }

  /** Blobs checked already, by digest: a plan reads a manifest or config, then checks every blob it reaches. */
  private readonly checked = new Map<string, BlobFile>()

  /**
   * Check that a descriptor's blob is a regular file of the right size inside the layout. On the
   * spot (an lstat, and a realpath per blob directory, once), and once per blob: a plan checks
   * every blob of every input.
   */
  statBlob(desc: { digest: string; size: number }): BlobFile {
    const known = this.checked.get(desc.digest)
    if (known) {
      if (known.size !== desc.size) throw this.sizeMismatch(known.digest, known.file, known.size, desc.size)
      return known
    }
    const digest = parseDigest(desc.digest, this.label)
    const file = this.paths.blob(digest)
    // The stat is kept for the verify cache.
    const st = lstatOrUndefined(file)
    if (!st) throw new OcisiteError('BLOB_MISSING', `${this.label}: blob ${digest.value} is missing (blobs/${digest.algorithm}/${digest.encoded})`, { digest: digest.value, file })
    if (!st.isFile()) {
      throw new OcisiteError('BLOB_NOT_REGULAR', `${this.label}: blob ${digest.value} is a ${st.isSymbolicLink() ? 'symlink' : 'non-regular file'}, not a regular file`, { digest: digest.value, file })
    }
    if (!this.insideLayout(path.dirname(file))) {
      throw new OcisiteError('BLOB_NOT_REGULAR', `${this.label}: blob ${digest.value} lies outside the layout through a linked directory`, { digest: digest.value, file })
    }
    if (st.size !== BigInt(desc.size)) throw this.sizeMismatch(digest, file, st.size, desc.size)
    const blob = { digest, size: desc.size, file, stamp: stampOf(st) }
    this.checked.set(desc.digest, blob)
    return blob
  }

  private sizeMismatch(digest: Digest, file: string, actual: number | bigint, described: number): OcisiteError {
    return new OcisiteError('SIZE_MISMATCH', `${this.label}: blob ${digest.value} is ${actual} bytes, but its descriptor says ${described}`, { digest: digest.value, file })
  }

  /** Read a small blob (a manifest, index or config) whole, verifying size and digest. */
  readBlob(desc: { digest: string; size: number }, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
    return fetchAll(this, { mediaType: '', ...desc }, maxBytes)
  }

  /**
   * The digests named by files under blobs/ (used to find referrers), unsorted and unchecked:
   * the caller sorts and checks only those it will read.
   */
  listBlobs(): Array<{ digest: string; file: string }> {
    const out: Array<{ digest: string; file: string }> = []
    for (const alg of listDir(this.paths.blobsDir())) {
      const dir = path.join(this.paths.blobsDir(), alg)
      for (const name of listDir(dir)) out.push({ digest: `${alg}:${name}`, file: `${dir}/${name}` })
    }
    return out
  }

  // --- referrers ------------------------------------------------------------------------------

  /**
   * The manifests of the layout that name a manifest as their subject (index.json entries, then
   * small blobs under blobs/), with whether each subject lies outside the layout.
   */
  scanReferrers(options: ScanOptions): Promise<ScannedReferrer[]> {
    return scanReferrers(this, options)
  }

  private found?: Promise<ScannedReferrer[]>
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    this.found ??= this.index(true).then(({ manifests }) => this.scanReferrers({ entries: manifests, strict: false }))
    return (await this.found).filter((r) => r.node.subject?.digest === subject.digest).map((r) => r.node.descriptor)
  }

  // --- paths ----------------------------------------------------------------------------------

  /** Blob directories found to lie inside the layout (each resolved once). */
  private readonly insideDirs = new Map<string, boolean>()
  private insideLayout(dir: string): boolean {
    let inside = this.insideDirs.get(dir)
    if (inside === undefined) {
      let real = dir
      try {
        real = realpathSync(dir)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
      inside = !path.relative(this.realRoot, real).startsWith('..')
      this.insideDirs.set(dir, inside)
    }
    return inside
  }

  where(file: string): string {
    return this.fromArchive ? `${this.label} (${file})` : path.join(this.label, file)
  }

  /** A layout's own small file (oci-layout, index.json), read on the spot. */
  private readSmallFile(file: string, name: string): Buffer {
    const st = lstatOrUndefined(file)
    if (!st) throw new OcisiteError('LAYOUT_INVALID', `${this.label}: not an OCI image layout: ${name} is missing`, { file })
    if (!st.isFile()) throw new OcisiteError('LAYOUT_INVALID', `${this.where(name)}: not a regular file`, { file })
    if (st.size > BigInt(MAX_JSON_BYTES)) throw new OcisiteError('JSON_INVALID', `${this.where(name)}: ${st.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`, { file })
    return readSmall(file, Number(st.size), (actual) =>
      new OcisiteError('LAYOUT_INVALID', `${this.where(name)}: changed while it was read (${actual === 'longer' ? 'it grew' : `now ${actual} bytes`})`, { file }),
    )
  }
}

/** A directory's entries; none when it is missing or not a directory. */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw err
  }
}

/**
 * Refuse a directory a layout may not be written into: anything that is not a directory (a
 * file, a dangling symlink, a path through a file), and, unless `force`, a non-empty directory
 * that is not already an OCI layout (no `oci-layout` file), whose files would be mixed into one.
 * Missing and empty directories are fine. `label` names it in the error (`DEST`, `--out`).
 */
export async function checkLayoutDir(dir: string, label: string, force = false): Promise<void> {
  const refuse = (why: string, cause?: unknown) => new OcisiteError('OUT_UNSAFE', `${label} ${dir}: ${why}`, { file: dir }, { cause })
  const st = await fs.stat(dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTDIR') throw refuse('a part of the path is a file, not a directory', err)
    if (err.code !== 'ENOENT') throw err
    if (lstatOrUndefined(dir)) throw refuse('is a symlink to nothing', err)
    return undefined
  })
  if (!st) return
  if (!st.isDirectory()) throw refuse('exists and is not a directory; name a directory for the OCI layout (created if missing)')
  if (force) return
  const entries = await fs.readdir(dir)
  if (entries.length === 0 || entries.includes('oci-layout')) return
  throw refuse('is not empty and is not an OCI layout (no oci-layout file); pass --force to write the layout into it (its other files are left alone)')
}

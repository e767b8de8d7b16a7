import { readdirSync, realpathSync } from 'node:fs'
import { lstatOrUndefined, readSmall, stampOf, type FileStamp } from '../../fs/atomic.js'
import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { parseDescriptor, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest, type Digest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { LayoutPaths } from './layout-paths.js'

/** A blob as read from a layout: its checked location and, for JSON documents, its verified bytes. */
export interface BlobFile {
  digest: Digest
  size: number
  file: string
  /** Its stamp, taken while checking it (a verify cache can use it). */
  stamp: FileStamp
}

/** A read-only view of an OCI image layout directory that treats every byte as untrusted. */
export class OciLayout {
  readonly paths: LayoutPaths
  /** How the user named this layout (a directory, or an archive it came from), for messages. */
  readonly label: string
  private realRoot = ''

  /** Extracted from an archive into a scratch directory (its files do not outlive the build). */
  readonly fromArchive: boolean

  private constructor(root: string, label: string, fromArchive: boolean) {
    this.paths = new LayoutPaths(root)
    this.label = label
    this.fromArchive = fromArchive
  }

  /** Open and check a layout: `oci-layout` and `index.json` must be present and valid. */
  static async open(root: string, label = root, fromArchive = false): Promise<OciLayout> {
    const layout = new OciLayout(root, label, fromArchive)
    try {
      layout.realRoot = realpathSync(layout.paths.root)
    } catch {
      throw new OcisiteError('INPUT_NOT_FOUND', `${label}: no such directory`, { file: label })
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

  /** A file that no longer has the size it was checked with. */
  private changedWhileRead(code: 'SIZE_MISMATCH' | 'LAYOUT_INVALID', what: string, actual: number | 'longer', context: Record<string, string>): OcisiteError {
    return new OcisiteError(code, `${what} changed while it was read (${actual === 'longer' ? 'it grew' : `now ${actual} bytes`})`, context)
  }

  /** Read a small blob (a manifest, index or config) whole, verifying size and digest. */
  async readBlob(desc: { digest: string; size: number }, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
    const blob = this.statBlob(desc)
    if (blob.size > maxBytes) {
      throw new OcisiteError('JSON_INVALID', `${this.label}: document ${blob.digest.value} is ${blob.size} bytes, over the ${maxBytes}-byte limit`, { digest: blob.digest.value })
    }
    // A small file read on the spot: one open, one read, one close, with no thread-pool round
    // trips (a few microseconds each, against tens for each asynchronous call).
    const bytes = readSmall(blob.file, blob.size, (actual) => this.changedWhileRead('SIZE_MISMATCH', `${this.label}: blob ${blob.digest.value}`, actual, { digest: blob.digest.value }))
    const actual = digestOf(bytes, blob.digest.algorithm)
    if (actual !== blob.digest.value) {
      throw new OcisiteError('DIGEST_MISMATCH', `${this.label}: blob ${blob.digest.value} has digest ${actual}`, { digest: blob.digest.value, file: blob.file })
    }
    return bytes
  }

  /**
   * The digests named by files under blobs/ (used to find referrers), unsorted and unchecked:
   * the caller sorts and checks only those it will read.
   */
  listBlobs(): Array<{ digest: string; file: string }> {
    const out: Array<{ digest: string; file: string }> = []
    const list = (dir: string) => {
      try {
        return readdirSync(dir)
      } catch {
        return []
      }
    }
    for (const alg of list(this.paths.blobsDir())) {
      const dir = path.join(this.paths.blobsDir(), alg)
      for (const name of list(dir)) out.push({ digest: `${alg}:${name}`, file: `${dir}/${name}` })
    }
    return out
  }

  /** Blob directories found to lie inside the layout (each resolved once). */
  private readonly insideDirs = new Map<string, boolean>()
  private insideLayout(dir: string): boolean {
    let inside = this.insideDirs.get(dir)
    if (inside === undefined) {
      let real: string
      try {
        real = realpathSync(dir)
      } catch {
        real = dir
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
    return readSmall(file, Number(st.size), (actual) => this.changedWhileRead('LAYOUT_INVALID', `${this.where(name)}:`, actual, { file }))
  }
}

import { promises as fs } from 'node:fs'
import { OcisiteError } from '../../errors.js'
import { hasFileOfSize, writeFileAtomic } from '../../fs/atomic.js'
import { REF_NAME, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { parseJsonObject } from '../../oci/json.js'
import { LayoutPaths } from './layout-paths.js'
import { MediaType } from '../../oci/media-types.js'

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
    if (await fs.lstat(dir).catch(() => undefined)) throw refuse('is a symlink to nothing', err)
    return undefined
  })
  if (!st) return
  if (!st.isDirectory()) throw refuse('exists and is not a directory; name a directory for the OCI layout (created if missing)')
  if (force) return
  const entries = await fs.readdir(dir)
  if (entries.length === 0 || entries.includes('oci-layout')) return
  throw refuse('is not empty and is not an OCI layout (no oci-layout file); pass --force to write the layout into it (its other files are left alone)')
}

/** Creates or extends an OCI image layout: blobs by content, and tagged entries in index.json. */
export class LayoutWriter {
  readonly paths: LayoutPaths
  private constructor(root: string) {
    this.paths = new LayoutPaths(root)
  }

  /** Open `root` as a layout, creating `oci-layout` and an empty `index.json` when absent. */
  static async create(root: string): Promise<LayoutWriter> {
    const w = new LayoutWriter(root)
    if (!(await fs.stat(w.paths.ociLayout).catch(() => undefined))) {
      await writeFileAtomic(w.paths.ociLayout, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })))
    }
    if (!(await fs.stat(w.paths.indexJson).catch(() => undefined))) await w.writeIndex([])
    return w
  }

  /** Store bytes as a blob (skipped when present) and return its descriptor. */
  async putBytes(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    const digest = parseDigest(digestOf(bytes))
    const file = this.paths.blob(digest)
    if (!(await hasFileOfSize(file, bytes.byteLength))) await writeFileAtomic(file, bytes)
    return { mediaType, digest: digest.value, size: bytes.byteLength, ...extra }
  }

  /** Serialise a JSON document once and store those exact bytes. */
  async putJson(value: unknown, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
    return this.putBytes(Buffer.from(JSON.stringify(value)), mediaType, extra)
  }

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
}

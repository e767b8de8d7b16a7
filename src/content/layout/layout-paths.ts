import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import type { Digest } from '../../oci/digest.js'

/** Every path inside an OCI image layout, computed in one place and kept inside the root. */
export class LayoutPaths {
  readonly root: string
  constructor(root: string) {
    this.root = path.resolve(root)
  }
  get ociLayout(): string {
    return path.join(this.root, 'oci-layout')
  }
  get indexJson(): string {
    return path.join(this.root, 'index.json')
  }
  blobsDir(): string {
    return path.join(this.root, 'blobs')
  }
  blob(digest: Digest): string {
    // A parsed digest is `[a-z0-9]+` and hex: it cannot climb out, so no containment check is
    // needed on this hot path (it runs for every blob of every input).
    if (!/^[a-z0-9]+$/.test(digest.algorithm) || !/^[0-9a-f]+$/.test(digest.encoded)) return this.inside(path.join(this.root, 'blobs', digest.algorithm, digest.encoded))
    return `${this.root}/blobs/${digest.algorithm}/${digest.encoded}`
  }
  private inside(p: string): string {
    const rel = path.relative(this.root, p)
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new OcisiteError('PATH_INVALID', `path ${p} escapes layout ${this.root}`)
    return p
  }
}

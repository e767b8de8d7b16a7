import { createReadStream, promises as fs } from 'node:fs'
import { hasFileOfSize, writeFileAtomic, writeVerified } from '../oci/atomic.js'
import { digestOf, type Digest } from '../oci/digest.js'
import type { PlannedBlob } from './plan.js'
import { SiteLayout, type SitePaths } from './site-paths.js'

/** The site's sharded content-addressed store: `oci-cas/<algorithm>/<2 hex>/<hex>`. */
export class BlobStore {
  constructor(readonly site: SitePaths) {}

  file(digest: Digest): string {
    return this.site.abs(SiteLayout.blob(digest))
  }

  /** Copy a blob in, verified while it streams. A blob already present with its size is skipped. */
  async put(blob: PlannedBlob, onBytes?: (n: number) => void): Promise<'written' | 'skipped'> {
    const target = this.file(blob.digest)
    await this.site.parentDir(SiteLayout.blob(blob.digest))
    if (await hasFileOfSize(target, blob.size)) return 'skipped'
    await writeVerified(createReadStream(blob.file), target, { digest: blob.digest, size: blob.size, label: blob.label }, onBytes)
    return 'written'
  }

  /** Store a document ocisite generated itself (its digest is computed here, so it is right by construction). */
  async putBytes(digest: Digest, bytes: Buffer): Promise<'written' | 'skipped'> {
    if (digestOf(bytes, digest.algorithm) !== digest.value) throw new Error(`internal: generated blob does not hash to ${digest.value}`)
    const target = this.file(digest)
    await this.site.parentDir(SiteLayout.blob(digest))
    if (await hasFileOfSize(target, bytes.byteLength)) return 'skipped'
    await writeFileAtomic(target, bytes)
    return 'written'
  }

  async remove(digest: Digest): Promise<void> {
    await fs.rm(this.file(digest), { force: true })
  }
}

import { readFileSync } from 'node:fs'
import { OcisiteError } from '../../../errors.js'
import type { Descriptor } from '../../../oci/descriptor.js'
import { parseDigest } from '../../../oci/digest.js'
import { verifyBytes } from '../../../content/ingest/verify.js'
import type { SitePlan } from '../../plan/plan.js'
import type { ReadBlob } from '../../facts/tag-facts.js'
import { pathOf } from '../../map.js'
import type { SitePaths } from '../../site-paths.js'

/**
 * Read a plan's small blobs (manifests, indexes, configs) for the pages, verified: from the
 * input layout that brings each one, or from the site's own store for one only the site holds.
 * Each is read once, however many tags share it.
 */
export function planReader(site: SitePaths, plan: SitePlan): ReadBlob {
  const origins = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, b.origin.file] as const] : [])))
  const cache = new Map<string, Promise<Buffer>>()
  const read = async (desc: Descriptor, limit: number): Promise<Buffer> => {
    const digest = parseDigest(desc.digest, site.root)
    if (desc.size > limit) throw new OcisiteError('JSON_INVALID', `${site.root}: ${digest.value} is ${desc.size} bytes, over the ${limit}-byte limit for a document`, { digest: digest.value })
    const file = origins.get(digest.value) ?? site.abs(pathOf({ kind: 'blob', digest }))
    // Read on the spot: a thread-pool round trip per small file costs more than the read (a
    // 1,000-tag site reads 2,000 of them).
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      throw new OcisiteError('BLOB_MISSING', `${site.root}: blob ${digest.value}, which the site publishes, is missing (${file}); add the image again, or rebuild the site from its inputs`, { digest: digest.value, file }, { cause: err })
    }
    verifyBytes(bytes, { digest, size: desc.size, label: file })
    return bytes
  }
  return (desc, limit) => {
    let p = cache.get(desc.digest)
    if (!p) cache.set(desc.digest, (p = read(desc, limit)))
    return p
  }
}

import { promises as fs } from 'node:fs'
import { OcisiteError } from '../../errors.js'
import type { Bucket } from '../../content/bucket-store.js'
import { verifyBytes } from '../../content/ingest/verify.js'
import { parseDigest } from '../../oci/digest.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { MAX_JSON_BYTES } from '../../oci/json.js'
import type { Fetcher } from '../../content/storage.js'
import type { ReadBlob } from '../facts/tag-facts.js'
import { bucketKeyOf } from '../map.js'
import type { SitePlan } from '../plan/plan.js'

/**
 * A bucket site's own documents, verified: from the record's copy when it has one, else one GET
 * of the blob. Every document read is kept in `known` (for the next record).
 */
export function bucketBlobSource(bucket: Bucket, known: Map<string, Buffer>): Fetcher {
  const label = bucket.where.url
  return {
    label,
    fetch: async (desc, use) => {
      const digest = parseDigest(desc.digest, label)
      let bytes = known.get(digest.value)
      if (!bytes) {
        if (desc.size > MAX_JSON_BYTES) throw new OcisiteError('JSON_INVALID', `${label}: document ${digest.value} is ${desc.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`, { digest: digest.value })
        const key = bucketKeyOf({ kind: 'blob', digest })
        bytes = await bucket.read(key, MAX_JSON_BYTES)
        if (!bytes) throw new OcisiteError('BLOB_MISSING', `${label}: blob ${digest.value} that the site publishes is missing (${key})`, { digest: digest.value })
      }
      verifyBytes(bytes, { digest, size: desc.size, label })
      known.set(digest.value, bytes)
      return use({ stream: [bytes], label })
    },
  }
}

/**
 * The small blobs the pages show (manifests, indexes, configs), verified, each read once: known
 * documents first, then the inputs' files, then one GET of the blob (a config of an image the
 * site already had).
 */
export function bucketReader(bucket: Bucket, plan: SitePlan, known: Map<string, Buffer>): ReadBlob {
  const label = bucket.where.url
  const origins = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, b.origin.file] as const] : [])))
  const cache = new Map<string, Promise<Buffer>>()
  const read = async (desc: Descriptor, limit: number): Promise<Buffer> => {
    const digest = parseDigest(desc.digest, label)
    if (desc.size > limit) throw new OcisiteError('JSON_INVALID', `${label}: ${digest.value} is ${desc.size} bytes, over the ${limit}-byte limit for a document`, { digest: digest.value })
    const key = bucketKeyOf({ kind: 'blob', digest })
    const origin = origins.get(digest.value)
    const bytes = known.get(digest.value) ?? (origin ? await fs.readFile(origin) : await bucket.read(key, limit))
    if (!bytes) throw new OcisiteError('BLOB_MISSING', `${label}: blob ${digest.value} that the site publishes is missing (${key})`, { digest: digest.value })
    verifyBytes(bytes, { digest, size: desc.size, label: origin ?? `${label}/${key}` })
    return bytes
  }
  return (desc, limit) => {
    let p = cache.get(desc.digest)
    if (!p) cache.set(desc.digest, (p = read(desc, limit)))
    return p
  }
}

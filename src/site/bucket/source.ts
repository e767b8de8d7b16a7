import { OcisiteError } from '../../errors.js'
import type { Bucket } from '../../content/bucket-store.js'
import { verifyBytes } from '../../content/ingest/verify.js'
import { parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES } from '../../oci/json.js'
import type { Fetcher } from '../../content/storage.js'
import { bucketKeyOf } from '../map.js'

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

import { OcisiteError } from '../errors.js'
import { readSmall } from '../fs/atomic.js'
import type { Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { MAX_JSON_BYTES } from '../oci/json.js'
import { chunksOf } from '../fs/filler.js'
import { verifyBytes, type Expected } from './ingest/verify.js'
import type { Blob, Fetcher } from './storage.js'

function expectedOf(desc: Descriptor, label: string): Expected {
  return { digest: parseDigest(desc.digest, label), size: desc.size, label }
}

function tooLong(expected: Expected): OcisiteError {
  return new OcisiteError('SIZE_MISMATCH', `${expected.label}: blob ${expected.digest.value} is longer than the ${expected.size} bytes its descriptor says`, { digest: expected.digest.value })
}

/** Read a blob's bytes whole into memory, checking its size (never reading past it) and digest. */
export async function readVerified(blob: Blob, desc: Descriptor): Promise<Buffer> {
  const expected = expectedOf(desc, blob.label)
  if ('file' in blob) {
    const bytes = readSmall(blob.file, desc.size, (actual) =>
      actual === 'longer' ? tooLong(expected) : new OcisiteError('SIZE_MISMATCH', `${expected.label}: blob ${desc.digest} is ${actual} bytes, but its descriptor says ${desc.size}`, { digest: desc.digest }),
    )
    verifyBytes(bytes, expected)
    return bytes
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of 'stream' in blob ? blob.stream : chunksOf(blob.filler)) {
    size += chunk.byteLength
    if (size > desc.size) {
      if ('filler' in blob) blob.filler.destroy()
      throw tooLong(expected)
    }
    chunks.push(chunk)
  }
  const bytes = Buffer.concat(chunks, size)
  verifyBytes(bytes, expected)
  return bytes
}

/**
 * The verified bytes of a small blob (a manifest, an index, a config) from any store. A
 * descriptor over `maxBytes` is refused before anything is read: an untrusted index can describe
 * a "manifest" of any size.
 */
export async function fetchAll(fetcher: Fetcher, desc: Descriptor, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
  if (desc.size > maxBytes) {
    throw new OcisiteError('JSON_INVALID', `${fetcher.label}: document ${desc.digest} is ${desc.size} bytes, over the ${maxBytes}-byte limit`, { digest: desc.digest })
  }
  return fetcher.fetch(desc, (blob) => readVerified(blob, desc))
}

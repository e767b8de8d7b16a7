import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { MAX_JSON_BYTES } from '../oci/json.js'
import { tryEachSource } from './copy-blobs.js'
import { openBlob } from './remote-store.js'
import { verifyBytes } from './ingest/verify.js'
import type { CasEngine } from '../oci/engines.js'
import { readCapped, type HttpOptions } from '../http/client.js'

/**
 * Fetch a small document (a manifest or index) into memory from the first CAS engine that serves
 * a verified copy (resolve reads documents this way without storing them).
 */
export async function casFetchBytes(engines: CasEngine[], desc: Descriptor, opts: HttpOptions = {}): Promise<Buffer> {
  if (desc.size > MAX_JSON_BYTES) throw new OcisiteError('PROTOCOL', `document ${desc.digest} is ${desc.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`)
  const digest = parseDigest(desc.digest)
  const sources = engines.map((engine) => ({ remote: true, engine }))
  return tryEachSource(sources, desc, async ({ engine }) => {
    const res = await openBlob(engine, desc, opts)
    const bytes = await readCapped(res, desc.size, () => `GET ${res.url}: blob ${desc.digest} is longer than the ${desc.size} bytes its descriptor says`)
    verifyBytes(bytes, { digest, size: desc.size, label: `GET ${res.url}` })
    return bytes
  })
}

import { createReadStream } from 'node:fs'
import { OcisiteError } from '../errors.js'
import { writeVerified } from '../oci/atomic.js'
import type { Descriptor } from '../oci/descriptor.js'
import { createDigester, digestOf, parseDigest } from '../oci/digest.js'
import { MAX_JSON_BYTES } from '../oci/json.js'
import { expandUri, type CasEngine } from './engines.js'
import { httpGet, readCapped, type HttpOptions } from './http.js'

/** The URL of a blob in one CAS engine. */
export function casUrl(engine: CasEngine, digest: string): string {
  const d = parseDigest(digest)
  return expandUri(engine.uri, { digest: d.value, algorithm: d.algorithm, encoded: d.encoded }, engine.uri)
}

async function open(engine: CasEngine, desc: Descriptor, opts: HttpOptions) {
  const url = casUrl(engine, desc.digest)
  const res = await httpGet(url, '*/*', opts)
  if (res.status !== 200) {
    res.body.destroy()
    throw new OcisiteError(res.status === 404 ? 'NOT_FOUND' : 'PROTOCOL', `GET ${res.url}: HTTP ${res.status}`, { url })
  }
  const declared = res.headers['content-length']
  if (declared !== undefined && Number(declared) !== desc.size) {
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: blob ${desc.digest} is ${declared} bytes, but its descriptor says ${desc.size}`, { url })
  }
  return res
}

/** Try each engine in order until one serves a verified copy; otherwise report every engine's failure. */
async function firstVerified<T>(engines: CasEngine[], desc: Descriptor, attempt: (engine: CasEngine) => Promise<T>): Promise<T> {
  if (engines.length === 0) throw new OcisiteError('PROTOCOL', `no CAS engine is known for ${desc.digest}`, { digest: desc.digest })
  const failures: OcisiteError[] = []
  for (const engine of engines) {
    try {
      return await attempt(engine)
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      failures.push(err)
    }
  }
  // Only when every engine was unreachable is it a network failure; a bad answer is a protocol failure.
  const code = failures.every((f) => f.code === 'NETWORK') ? 'NETWORK' : 'PROTOCOL'
  throw new OcisiteError(code, `blob ${desc.digest}: no CAS engine served a verified copy (${failures.map((f) => f.message).join('; ')})`, { digest: desc.digest })
}

/** Fetch a small document (a manifest or index) into memory, verified against its descriptor. */
export async function casFetchBytes(engines: CasEngine[], desc: Descriptor, opts: HttpOptions = {}): Promise<Buffer> {
  if (desc.size > MAX_JSON_BYTES) throw new OcisiteError('PROTOCOL', `document ${desc.digest} is ${desc.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`)
  const digest = parseDigest(desc.digest)
  return firstVerified(engines, desc, async (engine) => {
    const res = await open(engine, desc, opts)
    const bytes = await readCapped(res, desc.size, () => `GET ${res.url}: blob ${desc.digest} is longer than the ${desc.size} bytes its descriptor says`)
    if (bytes.byteLength !== desc.size) throw new OcisiteError('PROTOCOL', `GET ${res.url}: blob ${desc.digest} is ${bytes.byteLength} bytes, but its descriptor says ${desc.size}`)
    const actual = digestOf(bytes, digest.algorithm)
    if (actual !== desc.digest) throw new OcisiteError('PROTOCOL', `GET ${res.url}: digest mismatch: expected ${desc.digest}, got ${actual}`)
    return bytes
  })
}

/** Stream a blob into `file` through a hash; it is renamed into place only when size and digest match. */
export async function casFetchToFile(engines: CasEngine[], desc: Descriptor, file: string, opts: HttpOptions = {}, onBytes?: (n: number) => void): Promise<void> {
  const digest = parseDigest(desc.digest)
  await firstVerified(engines, desc, async (engine) => {
    const res = await open(engine, desc, opts)
    try {
      await writeVerified(res.body, file, { digest, size: desc.size, label: `GET ${res.url}` }, onBytes)
    } catch (err) {
      res.body.destroy()
      if (err instanceof OcisiteError && (err.code === 'SIZE_MISMATCH' || err.code === 'DIGEST_MISMATCH')) {
        throw new OcisiteError('PROTOCOL', err.message, { digest: desc.digest })
      }
      throw err
    }
  })
}

/** Does `file` hold exactly the bytes of `desc`? Hashes the file as a stream. */
export async function fileMatches(file: string, desc: Descriptor): Promise<boolean> {
  const digest = parseDigest(desc.digest)
  const hash = createDigester(digest.algorithm)
  let size = 0
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      size += chunk.byteLength
      hash.update(chunk)
    }
  } catch {
    return false
  }
  return size === desc.size && `${digest.algorithm}:${hash.digest('hex')}` === desc.digest
}

import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { expandUri, type CasEngine } from '../oci/engines.js'
import { httpGet, type HttpOptions } from '../http/client.js'
import { openDirect } from '../http/direct.js'
import type { Blob, Fetcher } from './storage.js'
import { OFF_THREAD, type BlobBytes } from './ingest/verify.js'

/** The URL of a blob in one CAS engine. */
export function casUrl(engine: CasEngine, digest: string): string {
  const d = parseDigest(digest)
  return expandUri(engine.uri, { digest: d.value, algorithm: d.algorithm, encoded: d.encoded }, engine.uri)
}

/** Open a blob's response from one engine: 200, and a Content-Length (when given) that matches. */
export async function openBlob(engine: CasEngine, desc: Descriptor, opts: HttpOptions) {
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

/**
 * A remote CAS reached through `oci-cas-template-v1` engines: read-only (a Fetcher), with the
 * engines' failover inside `fetch`. Each engine is tried in turn until the reader `use` succeeds
 * on its bytes. A size or digest mismatch is the server breaking the protocol, not bad input; only
 * when every engine was unreachable is it a network failure. One error names each failure.
 */
export class RemoteStore implements Fetcher {
  readonly label: string
  constructor(
    private readonly engines: CasEngine[],
    private readonly http: HttpOptions,
  ) {
    this.label = engines.map((e) => e.uri).join(', ') || 'no CAS engine'
  }

  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    if (this.engines.length === 0) throw new OcisiteError('PROTOCOL', `no CAS engine is known for ${desc.digest}`, { digest: desc.digest })
    const failures: OcisiteError[] = []
    for (const engine of this.engines) {
      try {
        return await use({ ...(await this.open(engine, desc)), label: `GET ${casUrl(engine, desc.digest)}` })
      } catch (err) {
        if (!(err instanceof OcisiteError)) throw err
        const failure = err.code === 'SIZE_MISMATCH' || err.code === 'DIGEST_MISMATCH' ? new OcisiteError('PROTOCOL', err.message, err.context, { cause: err }) : err
        if (this.engines.length === 1) throw failure
        failures.push(failure)
      }
    }
    // Credentials missing or refused say more than the other engines' failures.
    const auth = failures.find((f) => f.code === 'AUTH_FAILED')
    if (auth) throw auth
    const code = failures.every((f) => f.code === 'NETWORK') ? 'NETWORK' : 'PROTOCOL'
    throw new OcisiteError(code, `blob ${desc.digest}: no CAS engine served a verified copy (${failures.map((f) => f.message).join('; ')})`, { digest: desc.digest }, { cause: failures[0] })
  }

  /** A large blob is read straight into the hashing thread's buffers; a small one is streamed. */
  private async open(engine: CasEngine, desc: Descriptor): Promise<BlobBytes> {
    // A large blob's simple 200 over plain HTTP is read off the socket straight into the hashing
    // thread (http/direct.ts): `npm run bench` measured undici 13-70% slower and using ~60% more
    // CPU on the 1 GiB pull, so issue 24 keeps it. Anything else (TLS, a redirect, a 401, an
    // odd header) goes through undici. OCISITE_BENCH_UNDICI_ONLY=1 lets the bench compare.
    if (desc.size >= OFF_THREAD && process.env.OCISITE_BENCH_UNDICI_ONLY !== '1') {
      const filler = await openDirect(casUrl(engine, desc.digest), '*/*', desc.size, this.http)
      if (filler) return { filler }
    }
    const res = await openBlob(engine, desc, this.http)
    return desc.size >= OFF_THREAD ? { filler: res.body.filler(desc.size) } : { stream: res.body }
  }
}

import http from 'node:http'
import https from 'node:https'
import { OcisiteError } from '../errors.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../oci/json.js'
import { describeConnectError, lookupFor, tlsOptionsFor, type ConnectOptions } from './connect.js'

/** How the client reaches servers: `resolveHosts`, `ca` and `insecure` as in ConnectOptions, and these. */
export interface HttpOptions extends ConnectOptions {
  /** Per-request idle timeout in milliseconds (default 30 s). */
  timeoutMs?: number
  /**
   * The slowest transfer accepted (like curl's --speed-limit / --speed-time): a body that brings
   * fewer than `bytesPerSecond` on average over any `seconds`-long window is abandoned.
   */
  minSpeed?: { bytesPerSecond: number; seconds: number }
}

/** The default minimum speed: 1 KiB/s over 30 s turns a trickling server into a failure, not a hang. */
export const defaultMinSpeed = { bytesPerSecond: 1024, seconds: 30 } as const

export interface HttpResponse {
  /** The final URL, after redirects. */
  url: string
  status: number
  headers: http.IncomingHttpHeaders
  body: AsyncIterable<Uint8Array> & { destroy(): void }
}

const MAX_REDIRECTS = 10
/** Bytes a response body buffers ahead of its reader before it stops reading the socket. */
const BATCH_HIGH_WATER = 4 * 1024 * 1024

function requestOnce(url: URL, accept: string, opts: HttpOptions, method: 'GET' | 'HEAD'): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined
  if (!client) throw new OcisiteError('PROTOCOL', `${url}: unsupported URL scheme ${url.protocol}`, { url: url.toString() })
  return new Promise((resolve, reject) => {
    const lookup = lookupFor(opts, url)
    const tls = url.protocol === 'https:' ? tlsOptionsFor(opts) : {}
    const req = client.request(url, { method, headers: { accept, 'user-agent': 'ocisite' }, ...(lookup ? { lookup } : {}), ...tls, timeout: opts.timeoutMs ?? 30_000 }, resolve)
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => {
      const { message, plainHttp } = describeConnectError(err, url)
      reject(new OcisiteError('NETWORK', `${method} ${url}: ${message}`, { url: url.toString(), ...(plainHttp ? { plainHttp } : {}) }, { cause: err }))
    })
    req.end()
  })
}

/** GET (or HEAD) a URL, following redirects (at most 10, loops refused), and return the final response. */
export async function httpGet(target: string, accept: string, opts: HttpOptions = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpResponse> {
  let url = new URL(target)
  const seen = new Set<string>()
  for (let hop = 0; ; hop++) {
    seen.add(url.toString())
    const res = await requestOnce(url, accept, opts, method)
    const status = res.statusCode ?? 0
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume()
      const next = new URL(res.headers.location, url)
      if (seen.has(next.toString())) throw new OcisiteError('PROTOCOL', `GET ${target}: redirect loop at ${next}`, { url: target })
      if (hop + 1 >= MAX_REDIRECTS) throw new OcisiteError('PROTOCOL', `GET ${target}: more than ${MAX_REDIRECTS} redirects`, { url: target })
      url = next
      continue
    }
    return { url: url.toString(), status, headers: res.headers, body: guardedBody(res, url.toString(), opts.minSpeed ?? defaultMinSpeed) }
  }
}

/**
 * The slowest transfer accepted: `tooSlow` is called once fewer than `bytesPerSecond` on average
 * arrived over a whole `seconds`-long window.
 */
export function watchSpeed(minSpeed: { bytesPerSecond: number; seconds: number }, tooSlow: (reason: string) => void): { add(n: number): void; stop(): void } {
  const windowMs = minSpeed.seconds * 1000
  let windowStart = Date.now()
  let windowBytes = 0
  const timer = setInterval(() => {
    if (Date.now() - windowStart < windowMs) return
    if (windowBytes < minSpeed.bytesPerSecond * minSpeed.seconds) tooSlow(`transfer slower than ${minSpeed.bytesPerSecond} bytes/s for ${minSpeed.seconds} s`)
    windowStart = Date.now()
    windowBytes = 0
  }, Math.min(1000, windowMs))
  timer.unref()
  return {
    add: (n) => {
      windowBytes += n
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * A response body whose failures are network errors: a reset, an abort or a server that closes
 * mid-body ends the read with one NETWORK error naming the URL, and so does a transfer slower
 * than the minimum speed.
 */
function guardedBody(res: http.IncomingMessage, url: string, minSpeed: { bytesPerSecond: number; seconds: number }): HttpResponse['body'] {
  let received = 0
  let tooSlow: string | undefined
  const speed = watchSpeed(minSpeed, (reason) => {
    tooSlow = reason
    res.destroy(new Error(reason))
  })
  const stop = () => speed.stop()
  res.once('close', stop)
  return {
    async *[Symbol.asyncIterator]() {
      // Chunks are taken from 'data' events into a queue the reader drains: iterating the
      // response stream itself costs far more per 64 KiB chunk, a third of the main thread's
      // time on a fast link.
      const queue: Buffer[] = []
      let queued = 0
      let ended = false
      let failure: Error | undefined
      let wake: (() => void) | undefined
      const notify = () => {
        const w = wake
        wake = undefined
        w?.()
      }
      const onData = (chunk: Buffer) => {
        queue.push(chunk)
        queued += chunk.byteLength
        received += chunk.byteLength
        speed.add(chunk.byteLength)
        if (queued >= BATCH_HIGH_WATER) res.pause()
        notify()
      }
      const onEnd = () => {
        ended = true
        notify()
      }
      const onError = (err: Error) => {
        failure ??= err
        notify()
      }
      const onClose = () => {
        if (!res.complete) failure ??= new Error('the connection closed before the body was complete')
        ended = true
        notify()
      }
      res.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
      try {
        for (;;) {
          if (queue.length > 0) {
            const batch = queue.splice(0)
            queued = 0
            if (res.isPaused()) res.resume()
            // Handed on as they came (joining them would allocate fresh memory for every byte).
            for (const chunk of batch) yield chunk
            continue
          }
          if (failure) throw failure
          if (ended) break
          await new Promise<void>((r) => (wake = r))
        }
        if (!res.complete) throw new Error('the connection closed before the body was complete')
      } catch (err) {
        if (err instanceof OcisiteError) throw err
        throw new OcisiteError('NETWORK', `GET ${url}: ${tooSlow ?? (err as Error).message} (after ${received} bytes)`, { url }, { cause: err })
      } finally {
        res.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
        stop()
        // A consumer that stops early (a size cap, a mismatch) leaves nothing half-read open.
        if (!ended) res.destroy()
      }
    },
    destroy: () => {
      stop()
      res.destroy()
    },
  }
}

/** The media type of a Content-Type header, and its charset if any. */
export function parseContentType(value: string | undefined): { mediaType: string; charset: string | undefined } {
  const [type = '', ...params] = (value ?? '').split(';')
  const charset = params.map((p) => p.trim().split('=')).find(([k]) => k?.toLowerCase() === 'charset')?.[1]
  return { mediaType: type.trim().toLowerCase(), charset: charset?.replace(/"/g, '').toLowerCase() }
}

/** Read a response body whole, refusing (and closing it) once it passes `limit` bytes. */
export async function readCapped(res: HttpResponse, limit: number, tooLong: () => string): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += chunk.byteLength
    if (size > limit) {
      res.body.destroy()
      throw new OcisiteError('PROTOCOL', tooLong(), { url: res.url })
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Is this 400 nginx's answer to plain HTTP on a TLS port? (Its first few KiB are read to tell.) */
async function sentToHttpsPort(res: HttpResponse): Promise<boolean> {
  let text = ''
  try {
    for await (const chunk of res.body) {
      text += Buffer.from(chunk).toString('latin1')
      if (text.length >= 4096) break
    }
  } catch (err) {
    // A body cut short: the status alone is reported.
    if (!(err instanceof OcisiteError)) throw err
  }
  return /The plain HTTP request was sent to HTTPS port/i.test(text)
}

/** A JSON document fetched and checked: status 200, expected media type, utf-8, size cap, valid JSON object. */
export interface JsonDocument {
  url: string
  mediaType: string
  body: Record<string, unknown>
}

export async function fetchJson(target: string, mediaTypes: string[], opts: HttpOptions = {}): Promise<JsonDocument> {
  const res = await httpGet(target, mediaTypes.join(', '), opts)
  if (res.status === 404) {
    res.body.destroy()
    throw new OcisiteError('NOT_FOUND', `GET ${res.url}: 404 Not Found`, { url: res.url })
  }
  if (res.status !== 200) {
    const hint = res.status === 400 && res.url.startsWith('http:') && (await sentToHttpsPort(res)) ? ': the server speaks HTTPS on this port, not plain HTTP (use --protocol https)' : ''
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: HTTP ${res.status}${hint}`, { url: res.url })
  }
  const { mediaType, charset } = parseContentType(res.headers['content-type'])
  if (!mediaTypes.includes(mediaType)) {
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: Content-Type is "${res.headers['content-type'] ?? ''}", expected ${mediaTypes.join(' or ')}`, { url: res.url })
  }
  if (charset !== undefined && charset !== 'utf-8') {
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: charset ${charset} is not utf-8`, { url: res.url })
  }
  const declared = Number(res.headers['content-length'])
  if (declared > MAX_JSON_BYTES) {
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: document is ${declared} bytes, over the ${MAX_JSON_BYTES}-byte limit`, { url: res.url })
  }
  const bytes = await readCapped(res, MAX_JSON_BYTES, () => `GET ${res.url}: document is over the ${MAX_JSON_BYTES}-byte limit`)
  let body: Record<string, unknown>
  try {
    body = parseJsonObject(bytes, `GET ${res.url}`)
  } catch (err) {
    if (!(err instanceof OcisiteError)) throw err
    throw new OcisiteError('PROTOCOL', err.message, { url: res.url })
  }
  return { url: res.url, mediaType, body }
}

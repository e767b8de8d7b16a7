import type { IncomingHttpHeaders } from 'node:http'
import { OcisiteError } from '../errors.js'
import type { Filler } from '../fs/filler.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../oci/json.js'
import { acceptedAuthorization, rememberAuthorization, type Authenticator } from './auth.js'
import { describeConnectError, type ConnectOptions } from './connect.js'
import { dispatcherFor } from './dispatcher.js'
import { Exchange } from './exchange.js'
import { defaultMinSpeed, type MinSpeed } from './speed.js'

export { defaultMinSpeed } from './speed.js'
export type { Authenticator } from './auth.js'

/** How the client reaches servers: `resolveHosts`, `ca` and `insecure` as in ConnectOptions, and these. */
export interface HttpOptions extends ConnectOptions {
  /** Idle timeout in milliseconds: connecting, waiting for the head, and between body bytes (default 30 s). */
  timeoutMs?: number
  /**
   * The slowest transfer accepted (like curl's --speed-limit / --speed-time): a body that brings
   * fewer than `bytesPerSecond` on average over any `seconds`-long window is abandoned.
   */
  minSpeed?: MinSpeed
  /** Answers a 401 (HTTP Basic); without one, a 401 is handed back like any status. */
  auth?: Authenticator
}

/**
 * A response body: iterated, its chunks come as they arrived; or read as a filler, straight
 * into a sink's buffers (the hashing thread's memory). Its failures are NETWORK errors naming
 * the URL: a reset, a close mid-body, a stall, a transfer slower than the minimum speed.
 */
export interface HttpBody extends AsyncIterable<Uint8Array> {
  /** The body as a filler that stops past `limit` bytes (the writer then sees it is longer). */
  filler(limit: number): Filler
  /** Close the connection, unless the body is all in. */
  destroy(): void
}

export interface HttpResponse {
  /** The final URL, after redirects. */
  url: string
  status: number
  headers: IncomingHttpHeaders
  body: HttpBody
}

const MAX_REDIRECTS = 10

/** One request through undici: resolves once the head has come. */
async function requestOnce(url: URL, accept: string, opts: HttpOptions, method: 'GET' | 'HEAD', authorization?: string): Promise<HttpResponse> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OcisiteError('PROTOCOL', `${url}: unsupported URL scheme ${url.protocol}`, { url: url.toString() })
  const timeoutMs = opts.timeoutMs ?? 30_000
  const dispatcher = await dispatcherFor(opts)
  const exchange = new Exchange(url.toString(), opts.minSpeed ?? defaultMinSpeed, timeoutMs)
  const headers: Record<string, string> = { accept, 'user-agent': 'ocisite', ...(authorization ? { authorization } : {}) }
  dispatcher.dispatch({ origin: url.origin, path: `${url.pathname}${url.search}`, method, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, exchange)
  try {
    const head = await exchange.head
    const body: HttpBody = {
      [Symbol.asyncIterator]: () => exchange.chunks(),
      filler: (limit) => exchange.filler(limit),
      destroy: () => exchange.abort(new Error('the reader stopped before the body was complete')),
    }
    return { url: url.toString(), ...head, body }
  } catch (err) {
    const { message, plainHttp } = describeConnectError(err as NodeJS.ErrnoException, url, timeoutMs)
    throw new OcisiteError('NETWORK', `${method} ${url}: ${message}`, { url: url.toString(), ...(plainHttp ? { plainHttp } : {}) }, { cause: err })
  }
}

/**
 * One request, answering a 401 once: credentials go out only after the origin asked for them
 * (the authenticator decides which, and whether they may), and once an origin accepted them they
 * go to it up front. A refusal of credentials is AUTH_FAILED.
 */
async function requestWithAuth(url: URL, accept: string, opts: HttpOptions, method: 'GET' | 'HEAD'): Promise<HttpResponse> {
  const auth = opts.auth
  const known = acceptedAuthorization(auth, url)
  const res = await requestOnce(url, accept, opts, method, known)
  if (res.status !== 401 || !auth) return res
  res.body.destroy()
  if (known) throw auth.refused(url, res.status)
  const authorization = await auth.answer(url, res.headers['www-authenticate'])
  const retry = await requestOnce(url, accept, opts, method, authorization)
  if (retry.status === 401 || retry.status === 403) {
    retry.body.destroy()
    throw auth.refused(url, retry.status)
  }
  rememberAuthorization(auth, url, authorization)
  return retry
}

/** GET (or HEAD) a URL, following redirects (at most 10, loops refused), and return the final response. */
export async function httpGet(target: string, accept: string, opts: HttpOptions = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpResponse> {
  let url = new URL(target)
  const seen = new Set<string>()
  for (let hop = 0; ; hop++) {
    seen.add(url.toString())
    const res = await requestWithAuth(url, accept, opts, method)
    const location = [res.headers.location].flat()[0]
    if (res.status >= 300 && res.status < 400 && location) {
      // (A redirect's body is not read: its connection is closed.)
      res.body.destroy()
      const next = new URL(location, url)
      if (seen.has(next.toString())) throw new OcisiteError('PROTOCOL', `GET ${target}: redirect loop at ${next}`, { url: target })
      if (hop + 1 >= MAX_REDIRECTS) throw new OcisiteError('PROTOCOL', `GET ${target}: more than ${MAX_REDIRECTS} redirects`, { url: target })
      url = next
      continue
    }
    return res
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

import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDirect } from '../src/http/direct.js'
import { chunksOf, type BufferSink } from '../src/fs/filler.js'

/** 24 MiB and a few bytes: more than a sink's buffers, with a short last read. */
const body = randomBytes(24 * 1024 * 1024 + 7)
let server: http.Server
let base: string
/** What the server saw of the last request, and whether its connection has closed. */
let last: { url: string; host: string; closed: boolean } | undefined

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const seen = { url: req.url ?? '', host: req.headers.host ?? '', closed: false }
  last = seen
  req.socket.on('close', () => (seen.closed = true))
  const shape = new URL(req.url ?? '/', 'http://x').pathname.slice(1)
  switch (shape) {
    case 'plain':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
      return void res.end(body)
    case 'redirect':
      res.writeHead(302, { location: '/plain' })
      return void res.end()
    case 'missing':
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 9 })
      return void res.end('not found')
    case 'chunked':
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      return void res.end(body)
    case 'gzip':
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length })
      return void res.end(body)
    case 'wrong-length':
      res.writeHead(200, { 'content-length': body.length - 1 })
      return void res.end(body.subarray(1))
    case 'huge-head':
      res.writeHead(200, { 'x-padding': 'x'.repeat(20_000), 'content-length': body.length })
      return void res.end(body)
    case 'stall':
      // The head and a little of the body, then nothing.
      res.writeHead(200, { 'content-length': body.length })
      return void res.write(body.subarray(0, 1000))
    default:
      res.writeHead(500)
      res.end()
  }
}

beforeAll(async () => {
  server = http.createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

describe('a large body read straight into the caller\'s buffers (openDirect)', () => {
  it('reads a plain 200 byte for byte, sending the path, query and Host with its port', async () => {
    const filler = await openDirect(`${base}/plain?x=1`, '*/*', body.length, {})
    expect(filler).toBeDefined()
    expect((await collect(chunksOf(filler!))).equals(body)).toBe(true)
    expect(last).toMatchObject({ url: '/plain?x=1', host: base.slice('http://'.length) })
  })

  it('reaches a name given in resolveHosts', async () => {
    const port = new URL(base).port
    const filler = await openDirect(`http://blobs.test:${port}/plain`, '*/*', body.length, { resolveHosts: { 'blobs.test': '127.0.0.1' } })
    expect((await collect(chunksOf(filler!))).equals(body)).toBe(true)
    expect(last?.host).toBe(`blobs.test:${port}`)
  })

  it('fills a sink with little room, waiting whenever it is full, and gets every byte in order', async () => {
    // A sink of one 1,000-byte buffer, emptied on a timer: reading must stop and go on.
    const filler = await openDirect(`${base}/plain`, '*/*', body.length, {})
    const out = Buffer.alloc(body.length)
    let at = 0
    let buf = new Uint8Array(1000)
    let used = 0
    let waits = 0
    const sink: BufferSink = {
      room: () => (used === buf.length ? undefined : buf.subarray(used)),
      filled: (n) => {
        used += n
      },
      whenRoom: async () => {
        waits++
        await new Promise((r) => setImmediate(r))
        out.set(buf.subarray(0, used), at)
        at += used
        buf = new Uint8Array(1000)
        used = 0
      },
    }
    await filler!.fill(sink)
    out.set(buf.subarray(0, used), at)
    at += used
    expect(at).toBe(body.length)
    expect(out.equals(body)).toBe(true)
    expect(waits).toBeGreaterThan(1000)
  })

  it.each(['redirect', 'missing', 'chunked', 'gzip', 'wrong-length', 'huge-head'])('leaves %s to the full client (undefined) and closes its connection', async (shape) => {
    await expect(openDirect(`${base}/${shape}`, '*/*', body.length, {})).resolves.toBeUndefined()
    await expect.poll(() => last?.closed).toBe(true)
  })

  it('leaves https to the full client without connecting', async () => {
    last = undefined
    await expect(openDirect('https://127.0.0.1:1/plain', '*/*', body.length, {})).resolves.toBeUndefined()
  })

  it('a refused connection is one NETWORK error naming the URL', async () => {
    const closed = http.createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(closed.address() as { port: number }).port}/plain`
    await new Promise((r) => closed.close(r))
    await expect(openDirect(url, '*/*', body.length, {})).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringContaining(`GET ${url}: connect ECONNREFUSED`) })
  })

  it('a stalled body fails within the minimum speed window, naming the URL and the bytes that came', async () => {
    const filler = await openDirect(`${base}/stall`, '*/*', body.length, { minSpeed: { bytesPerSecond: 1000, seconds: 1 } })
    await expect(collect(chunksOf(filler!))).rejects.toMatchObject({ code: 'NETWORK', message: `GET ${base}/stall: transfer slower than 1000 bytes/s for 1 s (after 1000 bytes)` })
    await expect.poll(() => last?.closed).toBe(true)
  })

  it('a reader that stops early closes the connection', async () => {
    const filler = await openDirect(`${base}/plain`, '*/*', body.length, {})
    for await (const chunk of chunksOf(filler!)) {
      expect(chunk.byteLength).toBeGreaterThan(0)
      break
    }
    await expect.poll(() => last?.closed).toBe(true)
    await expect(filler!.fill({ room: () => new Uint8Array(10), filled: () => undefined, whenRoom: async () => undefined })).rejects.toMatchObject({ code: 'NETWORK' })
  })
})

import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { httpGet, type HttpOptions } from '../src/http/client.js'
import { chunksOf, type BufferSink } from '../src/fs/filler.js'
import { tempDir } from './helpers/fixtures.js'

/** 24 MiB and a few bytes: more than a sink's buffers, with a short last read. */
const body = randomBytes(24 * 1024 * 1024 + 7)
let server: http.Server
let tls: https.Server
let base: string
let tlsBase: string
let ca: string
let work: string
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
    case 'chunked-longer':
      // No Content-Length, and more than the caller expects.
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write(body)
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
    case 'reset':
      res.writeHead(200, { 'content-length': body.length })
      res.write(body.subarray(0, 1000))
      return void setTimeout(() => req.socket.resetAndDestroy(), 50)
    default:
      res.writeHead(500)
      res.end()
  }
}

beforeAll(async () => {
  work = await tempDir()
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'ignore' })
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1')
  ca = await fs.readFile(path.join(work, 'cert.pem'), 'utf8')
  server = http.createServer(handler)
  tls = https.createServer({ cert: ca, key: await fs.readFile(path.join(work, 'key.pem')) }, handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  tlsBase = `https://127.0.0.1:${(tls.address() as { port: number }).port}`
})

afterAll(async () => {
  for (const s of [server, tls]) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
  await fs.rm(work, { recursive: true, force: true })
})

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

/** GET a URL, and its body as a filler that expects `size` bytes. */
async function open(url: string, opts: HttpOptions = {}, size = body.length) {
  const res = await httpGet(url, '*/*', opts)
  return { res, filler: res.body.filler(size) }
}

describe("a large body read through undici straight into the caller's buffers (the body's filler)", () => {
  it('reads a plain 200 byte for byte, sending the path, query and Host with its port', async () => {
    const { filler } = await open(`${base}/plain?x=1`)
    expect((await collect(chunksOf(filler))).equals(body)).toBe(true)
    expect(last).toMatchObject({ url: '/plain?x=1', host: base.slice('http://'.length) })
  })

  it('reaches a name given in resolveHosts', async () => {
    const port = new URL(base).port
    const { filler } = await open(`http://blobs.test:${port}/plain`, { resolveHosts: { 'blobs.test': '127.0.0.1' } })
    expect((await collect(chunksOf(filler))).equals(body)).toBe(true)
    expect(last?.host).toBe(`blobs.test:${port}`)
  })

  it('reads over TLS with the CA given, byte for byte', async () => {
    const { filler } = await open(`${tlsBase}/plain`, { ca: [ca] })
    expect((await collect(chunksOf(filler))).equals(body)).toBe(true)
  })

  it('fills a sink with little room, waiting whenever it is full, and gets every byte in order', async () => {
    // A sink of one 1,000-byte buffer, emptied on a timer: reading must stop and go on.
    const { filler } = await open(`${base}/plain`)
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
    await filler.fill(sink)
    out.set(buf.subarray(0, used), at)
    at += used
    expect(at).toBe(body.length)
    expect(out.equals(body)).toBe(true)
    expect(waits).toBeGreaterThan(1000)
  })

  it('fills a sink like the hashing thread\'s (shared memory; slots handed back later; room at once when there is some), byte for byte', async () => {
    // Reading stops whenever both slots are out, and goes on when one comes back: a body that
    // resumes must not hand the sink an empty chunk it waits on for ever.
    const { filler } = await open(`${base}/plain`)
    // Shared memory, as the hashing thread's: chunks that start anywhere are copied in aligned.
    const slot = 1024 * 1024
    const memory = new SharedArrayBuffer(2 * slot)
    const free: Uint8Array[] = [new Uint8Array(memory, 0, slot), new Uint8Array(memory, slot, slot)]
    const out: Uint8Array[] = []
    let current: Uint8Array | undefined
    let used = 0
    let waiting: (() => void) | undefined
    /** Waits asked for with room to spare, since the last bytes came: a spin, past a few. */
    let idle = 0
    const sink: BufferSink = {
      room: () => (current ??= free.pop())?.subarray(used),
      filled: (n) => {
        if (n > 0) idle = 0
        used += n
        if (used < slot) return
        const full = current!
        out.push(full.slice())
        ;[current, used] = [undefined, 0]
        setTimeout(() => {
          free.push(full)
          waiting?.()
        }, 1)
      },
      whenRoom: async () => {
        if (sink.room() && ++idle > 1000) throw new Error('asked to wait while the sink has room, over and over')
        while (!sink.room()) await new Promise<void>((r) => (waiting = r))
      },
    }
    await filler.fill(sink)
    out.push(current!.subarray(0, used))
    expect(Buffer.concat(out).equals(body)).toBe(true)
  })

  it.each([
    ['redirect', 'the body it leads to'],
    ['chunked', 'its chunks joined'],
    ['gzip', 'the bytes as sent (not decoded: the digest is of those)'],
  ])('reads %s: %s', async (shape) => {
    const { filler } = await open(`${base}/${shape}`)
    expect((await collect(chunksOf(filler))).equals(body)).toBe(true)
  })

  it('reads a body shorter than expected to its end (the writer then sees its size)', async () => {
    const { res, filler } = await open(`${base}/wrong-length`)
    expect(res.headers['content-length']).toBe(String(body.length - 1))
    expect((await collect(chunksOf(filler))).equals(body.subarray(1))).toBe(true)
  })

  it('stops one byte past the size expected, and closes the connection', async () => {
    const { filler } = await open(`${base}/chunked-longer`)
    expect((await collect(chunksOf(filler))).byteLength).toBe(body.length + 1)
    await expect.poll(() => last?.closed).toBe(true)
  })

  it('gives a 404 its status and body: the caller decides', async () => {
    const { res } = await open(`${base}/missing`)
    expect(res.status).toBe(404)
    expect((await collect(res.body)).toString()).toBe('not found')
  })

  it('a head over 16 KiB is one NETWORK error naming the URL, and its connection is closed', async () => {
    await expect(open(`${base}/huge-head`)).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringContaining(`GET ${base}/huge-head: `) })
    await expect.poll(() => last?.closed).toBe(true)
  })

  it.each([
    ['plain HTTP', () => base],
    ['HTTPS', () => tlsBase],
  ])('%s: a refused connection is one NETWORK error naming the URL', async (_, origin) => {
    const closed = http.createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const url = `${origin().split(':').slice(0, 2).join(':')}:${(closed.address() as { port: number }).port}/plain`
    await new Promise((r) => closed.close(r))
    await expect(open(url)).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringContaining(`GET ${url}: connect ECONNREFUSED`) })
  })

  it('a stalled body fails within the minimum speed window, naming the URL and the bytes that came', async () => {
    const { filler } = await open(`${base}/stall`, { minSpeed: { bytesPerSecond: 1000, seconds: 1 } })
    await expect(collect(chunksOf(filler))).rejects.toMatchObject({ code: 'NETWORK', message: `GET ${base}/stall: transfer slower than 1000 bytes/s for 1 s (after 1000 bytes)` })
    await expect.poll(() => last?.closed).toBe(true)
  })

  it('a reset mid-body is one NETWORK error naming the URL and the bytes that came', async () => {
    const { filler } = await open(`${base}/reset`)
    await expect(collect(chunksOf(filler))).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(new RegExp(`^GET ${base}/reset: .*ECONNRESET.* \\(after 1000 bytes\\)$`)) })
  })

  it('a reader that stops early closes the connection', async () => {
    const { filler } = await open(`${base}/plain`)
    for await (const chunk of chunksOf(filler)) {
      expect(chunk.byteLength).toBeGreaterThan(0)
      break
    }
    await expect.poll(() => last?.closed).toBe(true)
    await expect(filler.fill({ room: () => new Uint8Array(10), filled: () => undefined, whenRoom: async () => undefined })).rejects.toMatchObject({ code: 'NETWORK' })
  })

  it('a sink that fails (the disk) rejects the fill with its own error, and closes the connection', async () => {
    const { filler } = await open(`${base}/plain`)
    const disk = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    let used = 0
    const sink: BufferSink = {
      room: () => (used >= 65536 ? undefined : new Uint8Array(65536 - used)),
      filled: (n) => void (used += n),
      whenRoom: () => Promise.reject(disk),
    }
    await expect(filler.fill(sink)).rejects.toBe(disk)
    await expect.poll(() => last?.closed).toBe(true)
  })
})

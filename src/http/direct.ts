import net from 'node:net'
import { OcisiteError } from '../errors.js'
import { putInto, type BufferSink, type Filler } from '../fs/filler.js'
import { lookupFor } from './connect.js'
import type { HttpOptions } from './client.js'
import { defaultMinSpeed, watchSpeed } from './speed.js'

/**
 * A large blob's GET over plain HTTP whose body the socket reads straight into the sink's
 * buffers (net's `onread`). Through `node:http` every 64 KiB of body is a new Buffer, a copy,
 * and a stream event, which took a core's second per GiB; read this way a GiB arrives in a
 * third of that.
 *
 * It takes only the simplest answer: `200` with one Content-Length equal to the blob's size, no
 * Transfer-Encoding and no Content-Encoding. Anything else (a redirect, an error status, a
 * chunked or compressed body, an odd header) is left to the full client: `openDirect` gives
 * undefined, and the caller asks again through `httpGet`, which answers every case as it
 * always has. So this reads no more of HTTP than it must.
 */

/** The response head may be at most this long; a longer one is left to the full client. */
const HEAD_MAX = 16 * 1024
/** Where bytes are read while the sink has no room (reading then stops until it has). */
const PARKING = 64 * 1024

/** The head's verdict: is this the one simple answer taken here? */
function simpleAnswer(head: string, size: number): boolean {
  const [status = '', ...lines] = head.split('\r\n')
  if (!/^HTTP\/1\.[01] 200(?: |$)/.test(status)) return false
  let lengths = 0
  for (const line of lines) {
    const colon = line.indexOf(':')
    // A folded or malformed line: not simple.
    if (colon <= 0 || /^[ \t]/.test(line)) return false
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'transfer-encoding') return false
    if (name === 'content-encoding' && value.toLowerCase() !== 'identity') return false
    if (name === 'content-length') {
      if (!/^\d+$/.test(value) || Number(value) !== size) return false
      lengths++
    }
  }
  return lengths === 1
}

/**
 * GET a plain-http URL whose body should be `size` bytes. Resolves once the head has arrived:
 * with a filler for the body, or undefined when the answer is not the simple one (the request
 * is then closed). A connection failure is a NETWORK error, worded as `httpGet` words it.
 */
export function openDirect(target: string, accept: string, size: number, opts: HttpOptions): Promise<Filler | undefined> {
  const url = new URL(target)
  if (url.protocol !== 'http:') return Promise.resolve(undefined)
  const fail = (message: string, received?: number) =>
    new OcisiteError('NETWORK', `GET ${url}: ${message}${received === undefined ? '' : ` (after ${received} bytes)`}`, { url: url.toString() })

  const head = new Uint8Array(HEAD_MAX)
  const parking = new Uint8Array(PARKING)
  let headLength = 0
  let phase: 'head' | 'waiting' | 'body' | 'done' = 'head'
  let sink: BufferSink | undefined
  /** Body bytes read, and those not yet in the sink (read into the head or parking buffer). */
  let received = 0
  let carry: Uint8Array | undefined
  let settle: { resolve(): void; reject(err: unknown): void } | undefined
  let failure: unknown
  let tooSlow: string | undefined
  /** The minimum speed, watched over the body (as `httpGet` watches it). */
  let speed: { add(n: number): void; stop(): void } | undefined

  const lookup = lookupFor(opts, url)
  const socket = net.connect({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 80),
    ...(lookup ? { lookup } : {}),
    onread: { buffer: () => nextBuffer(), callback: (n: number, buf: Uint8Array) => onRead(n, buf) },
  })
  socket.setTimeout(opts.timeoutMs ?? 30_000, () => socket.destroy(new Error('timed out')))
  socket.on('connect', () => {
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: ${accept}\r\nUser-Agent: ocisite\r\nConnection: close\r\n\r\n`)
  })

  /** Where the socket reads next. It always gets a live buffer: never one handed to the sink's consumer. */
  function nextBuffer(): Uint8Array {
    if (phase === 'head') return head.subarray(headLength)
    const left = size - received
    const room = phase === 'body' && !carry && left > 0 ? sink!.room() : undefined
    if (room) return room.subarray(0, Math.min(room.byteLength, left))
    return parking.subarray(0, Math.max(1, Math.min(PARKING, left)))
  }

  /** Move carried bytes into the sink while it has room; true once none are left. */
  function deliver(): boolean {
    while (carry) {
      const n = putInto(sink!, carry)
      if (n === 0) return false
      carry = n === carry.byteLength ? undefined : carry.subarray(n)
    }
    return true
  }

  /** After each read: go on reading (true) or stop until the sink has room (false). */
  function onRead(n: number, buf: Uint8Array): boolean {
    if (phase === 'head') {
      headLength += n
      const end = Buffer.from(head.buffer, 0, headLength).indexOf('\r\n\r\n')
      if (end < 0) {
        if (headLength === HEAD_MAX) answer(false)
        return true
      }
      const simple = simpleAnswer(Buffer.from(head.buffer, 0, end).toString('latin1'), size)
      // Body bytes that came with the head, carried into the sink once it is given.
      const early = head.subarray(end + 4, Math.min(headLength, end + 4 + size))
      received = early.byteLength
      carry = early.byteLength > 0 ? early : undefined
      phase = 'waiting'
      if (simple) {
        speed = watchSpeed(opts.minSpeed ?? defaultMinSpeed, (reason) => {
          tooSlow = reason
          socket.destroy(new Error(reason))
        })
        speed.add(received)
      }
      answer(simple)
      return false
    }
    received += n
    speed!.add(n)
    // (Parking is read into only while nothing is carried, and reading stops until it is delivered.)
    if (buf.buffer === parking.buffer) carry = parking.subarray(0, n)
    else sink!.filled(n)
    return step()
  }

  /** Deliver what is carried, finish once every byte is in, and say whether to read on. */
  function step(): boolean {
    if (!deliver()) {
      waitForRoom()
      return false
    }
    if (received === size) {
      finish()
      return false
    }
    if (!sink!.room()) {
      waitForRoom()
      return false
    }
    return true
  }

  function waitForRoom(): void {
    sink!.whenRoom().then(
      () => {
        if (phase === 'body' && step()) socket.resume()
      },
      (err: unknown) => stop(err),
    )
  }

  function finish(): void {
    if (phase === 'done') return
    phase = 'done'
    speed?.stop()
    socket.destroy()
    settle?.resolve()
  }

  function stop(err: unknown): void {
    if (phase === 'done') return
    phase = 'done'
    failure = err
    speed?.stop()
    socket.destroy()
    settle?.reject(err)
  }

  let answer: (simple: boolean) => void = () => undefined
  return new Promise<Filler | undefined>((resolve, reject) => {
    answer = (simple) => {
      if (!simple) {
        phase = 'done'
        socket.destroy()
        return resolve(undefined)
      }
      resolve({
        fill: (into) =>
          new Promise<void>((res, rej) => {
            if (phase !== 'waiting') return rej(failure ?? fail('the body was already read'))
            sink = into
            settle = { resolve: res, reject: rej }
            phase = 'body'
            if (step()) socket.resume()
          }),
        destroy: () => stop(fail('the reader stopped before the body was complete', received)),
      })
    }
    socket.on('error', (err) => {
      if (phase === 'head') return reject(fail(err.message))
      stop(fail(tooSlow ?? err.message, received))
    })
    socket.on('close', () => {
      if (phase === 'head') return reject(fail('socket hang up'))
      if (phase !== 'done') stop(fail('the connection closed before the body was complete', received))
    })
  })
}

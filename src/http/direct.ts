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
  return new DirectGet(url, size, opts).open(accept)
}

type Phase = 'head' | 'waiting' | 'body' | 'done'

/** One request on its own socket: the head read into a buffer of its own, the body straight into the sink. */
class DirectGet {
  private readonly head = new Uint8Array(HEAD_MAX)
  private readonly parking = new Uint8Array(PARKING)
  private headLength = 0
  private phase: Phase = 'head'
  private sink: BufferSink | undefined
  /** Body bytes read, and those not yet in the sink (read into the head or parking buffer). */
  private received = 0
  private carry: Uint8Array | undefined
  private settle: { resolve(): void; reject(err: unknown): void } | undefined
  private failure: unknown
  private tooSlow: string | undefined
  /** The minimum speed, watched over the body (as `httpGet` watches it). */
  private speed: { add(n: number): void; stop(): void } | undefined
  private socket!: net.Socket
  private answer: (simple: boolean) => void = () => undefined

  constructor(
    private readonly url: URL,
    private readonly size: number,
    private readonly opts: HttpOptions,
  ) {}

  private fail(message: string, received?: number): OcisiteError {
    return new OcisiteError('NETWORK', `GET ${this.url}: ${message}${received === undefined ? '' : ` (after ${received} bytes)`}`, { url: this.url.toString() })
  }

  open(accept: string): Promise<Filler | undefined> {
    const { url, opts } = this
    const lookup = lookupFor(opts, url)
    this.socket = net.connect({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(url.port || 80),
      ...(lookup ? { lookup } : {}),
      onread: { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    })
    this.socket.setTimeout(opts.timeoutMs ?? 30_000, () => this.socket.destroy(new Error('timed out')))
    this.socket.on('connect', () => {
      this.socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: ${accept}\r\nUser-Agent: ocisite\r\nConnection: close\r\n\r\n`)
    })
    return new Promise<Filler | undefined>((resolve, reject) => {
      this.answer = (simple) => {
        if (!simple) {
          this.phase = 'done'
          this.socket.destroy()
          return resolve(undefined)
        }
        resolve({ fill: (into) => this.fill(into), destroy: () => this.stop(this.fail('the reader stopped before the body was complete', this.received)) })
      }
      this.socket.on('error', (err) => {
        if (this.phase === 'head') return reject(this.fail(err.message))
        this.stop(this.fail(this.tooSlow ?? err.message, this.received))
      })
      this.socket.on('close', () => {
        if (this.phase === 'head') return reject(this.fail('socket hang up'))
        if (this.phase !== 'done') this.stop(this.fail('the connection closed before the body was complete', this.received))
      })
    })
  }

  private fill(into: BufferSink): Promise<void> {
    return new Promise<void>((res, rej) => {
      if (this.phase !== 'waiting') return rej(this.failure ?? this.fail('the body was already read'))
      this.sink = into
      this.settle = { resolve: res, reject: rej }
      this.phase = 'body'
      if (this.step()) this.socket.resume()
    })
  }

  /** Where the socket reads next. It always gets a live buffer: never one handed to the sink's consumer. */
  private nextBuffer(): Uint8Array {
    if (this.phase === 'head') return this.head.subarray(this.headLength)
    const left = this.size - this.received
    const room = this.phase === 'body' && !this.carry && left > 0 ? this.sink!.room() : undefined
    if (room) return room.subarray(0, Math.min(room.byteLength, left))
    return this.parking.subarray(0, Math.max(1, Math.min(PARKING, left)))
  }

  /** Move carried bytes into the sink while it has room; true once none are left. */
  private deliver(): boolean {
    while (this.carry) {
      const n = putInto(this.sink!, this.carry)
      if (n === 0) return false
      this.carry = n === this.carry.byteLength ? undefined : this.carry.subarray(n)
    }
    return true
  }

  /** After each read: go on reading (true) or stop until the sink has room (false). */
  private onRead(n: number, buf: Uint8Array): boolean {
    if (this.phase === 'head') return this.onHeadRead(n)
    this.received += n
    this.speed!.add(n)
    // (Parking is read into only while nothing is carried, and reading stops until it is delivered.)
    if (buf.buffer === this.parking.buffer) this.carry = this.parking.subarray(0, n)
    else this.sink!.filled(n)
    return this.step()
  }

  /** The head so far: once it is whole, judge it; body bytes that came with it are carried. */
  private onHeadRead(n: number): boolean {
    this.headLength += n
    const end = Buffer.from(this.head.buffer, 0, this.headLength).indexOf('\r\n\r\n')
    if (end < 0) {
      if (this.headLength === HEAD_MAX) this.answer(false)
      return true
    }
    const simple = simpleAnswer(Buffer.from(this.head.buffer, 0, end).toString('latin1'), this.size)
    const early = this.head.subarray(end + 4, Math.min(this.headLength, end + 4 + this.size))
    this.received = early.byteLength
    this.carry = early.byteLength > 0 ? early : undefined
    this.phase = 'waiting'
    if (simple) {
      this.speed = watchSpeed(this.opts.minSpeed ?? defaultMinSpeed, (reason) => {
        this.tooSlow = reason
        this.socket.destroy(new Error(reason))
      })
      this.speed.add(this.received)
    }
    this.answer(simple)
    return false
  }

  /** Deliver what is carried, finish once every byte is in, and say whether to read on. */
  private step(): boolean {
    if (!this.deliver()) {
      this.waitForRoom()
      return false
    }
    if (this.received === this.size) {
      this.finish()
      return false
    }
    if (!this.sink!.room()) {
      this.waitForRoom()
      return false
    }
    return true
  }

  private waitForRoom(): void {
    this.sink!.whenRoom().then(
      () => {
        if (this.phase === 'body' && this.step()) this.socket.resume()
      },
      (err: unknown) => this.stop(err),
    )
  }

  private finish(): void {
    if (this.phase === 'done') return
    this.phase = 'done'
    this.speed?.stop()
    this.socket.destroy()
    this.settle?.resolve()
  }

  private stop(err: unknown): void {
    if (this.phase === 'done') return
    this.phase = 'done'
    this.failure = err
    this.speed?.stop()
    this.socket.destroy()
    this.settle?.reject(err)
  }
}

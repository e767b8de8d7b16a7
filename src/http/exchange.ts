import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { OcisiteError } from '../errors.js'
import { putInto, type BufferSink, type Filler } from '../fs/filler.js'
import { describeTransferError } from './connect.js'
import { watchSpeed, type MinSpeed } from './speed.js'

/** Bytes a body takes ahead of its reader before reading from the connection stops. */
const HIGH_WATER = 4 * 1024 * 1024

/**
 * One request through undici, as a dispatch handler: the head once it has come, then the body
 * either iterated (chunks as they came) or put straight into a sink's buffers (a `Filler`: the
 * hashing thread's memory), with reading stopped whenever the reader or the sink is full.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  /** Settles once the head has come (1xx heads are skipped), or the request failed before it. */
  readonly head: Promise<{ status: number; headers: IncomingHttpHeaders }>
  /** Body bytes received so far. */
  received = 0
  private controller: Dispatcher.DispatchController | undefined
  private started: { resolve(head: { status: number; headers: IncomingHttpHeaders }): void; reject(err: unknown): void }
  private headed = false
  /** Chunks received and not yet taken by the reader or put into the sink. */
  private queue: Uint8Array[] = []
  private queued = 0
  private ended = false
  private failure: { err: unknown } | undefined
  private wake: (() => void) | undefined
  private sink: { into: BufferSink; limit: number; put: number; waiting: boolean; done(): void; fail(err: unknown): void } | undefined
  private filling = false
  /** The minimum speed, watched from the head on; why it was not met, once it was not. */
  private speed: { add(n: number): void; stop(): void } | undefined
  private tooSlow: string | undefined

  constructor(
    private readonly url: string,
    private readonly minSpeed: MinSpeed,
    private readonly timeoutMs: number,
  ) {
    let started!: Exchange['started']
    this.head = new Promise((resolve, reject) => (started = { resolve, reject }))
    this.started = started
  }

  /** A failure of the body, in words: `GET url: why (after N bytes)`, a NETWORK error. */
  private failed(err: unknown): OcisiteError {
    if (err instanceof OcisiteError) return err
    const why = this.tooSlow ?? describeTransferError(err as NodeJS.ErrnoException, this.timeoutMs)
    return new OcisiteError('NETWORK', `GET ${this.url}: ${why} (after ${this.received} bytes)`, { url: this.url }, { cause: err })
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return
    this.headed = true
    this.speed = watchSpeed(this.minSpeed, (reason) => {
      this.tooSlow = reason
      this.abort(new Error(reason))
    })
    this.started.resolve({ status, headers })
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // (undici hands on an empty chunk when a paused body resumes.)
    if (chunk.byteLength === 0) return
    this.received += chunk.byteLength
    this.speed?.add(chunk.byteLength)
    this.queue.push(chunk)
    this.queued += chunk.byteLength
    if (this.sink) return this.fill()
    if (this.queued >= HIGH_WATER) controller.pause()
    this.notify()
  }

  onResponseEnd(): void {
    this.ended = true
    this.speed?.stop()
    if (this.sink) this.fill()
    this.notify()
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.failure ??= { err }
    this.speed?.stop()
    if (!this.headed) this.started.reject(err)
    this.sink?.fail(this.failed(err))
    this.notify()
  }

  /** Stop: the connection is closed (a fill under way rejects with `reason`), unless the body is all in. */
  abort(reason: Error): void {
    if (this.ended || this.failure) return
    this.controller?.abort(reason)
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  /** The body's chunks, each handed on as it came; a failure is thrown as `failed` words it. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.queue.length > 0) {
          const batch = this.queue.splice(0)
          this.queued = 0
          // (Resuming may bring more chunks at once: they are queued behind this batch.)
          if (this.controller?.paused) this.controller.resume()
          for (const chunk of batch) yield chunk
          continue
        }
        if (this.failure) throw this.failed(this.failure.err)
        if (this.ended) return
        await new Promise<void>((r) => (this.wake = r))
      }
    } finally {
      // A reader that stops early leaves nothing half-read open.
      this.abort(new Error('the reader stopped before the body was complete'))
    }
  }

  /** The body as a filler: every byte put into the sink's buffers, stopping past `limit` bytes. */
  filler(limit: number): Filler {
    return {
      fill: (into) =>
        new Promise<void>((done, fail) => {
          if (this.failure) return fail(this.failed(this.failure.err))
          if (this.sink) return fail(new Error('the body is already being read'))
          this.sink = { into, limit, put: 0, waiting: false, done, fail }
          this.fill()
        }),
      destroy: () => this.abort(new Error('the reader stopped before the body was complete')),
    }
  }

  /** Put what is queued into the sink; wait for room when it is full, finish once all is in. */
  private fill(): void {
    const sink = this.sink!
    if (this.failure) return sink.fail(this.failed(this.failure.err))
    if (this.filling || sink.waiting) return
    this.filling = true
    try {
      while (this.queue.length > 0 && sink.put <= sink.limit) {
        const chunk = this.queue[0]!
        // Past the limit one byte more is put, so that the writer sees the body is longer.
        const n = putInto(sink.into, chunk.subarray(0, sink.limit + 1 - sink.put))
        if (n === 0) break
        sink.put += n
        this.queued -= n
        if (n === chunk.byteLength) this.queue.shift()
        else this.queue[0] = chunk.subarray(n)
      }
    } finally {
      this.filling = false
    }
    if (sink.put > sink.limit) {
      sink.done()
      return this.abort(new Error('the body is longer than expected'))
    }
    if (this.queue.length > 0) return this.waitForRoom()
    if (this.ended) return sink.done()
    if (this.controller?.paused) this.controller.resume()
  }

  private waitForRoom(): void {
    const sink = this.sink!
    this.controller?.pause()
    sink.waiting = true
    sink.into.whenRoom().then(
      () => {
        sink.waiting = false
        this.fill()
      },
      (err: unknown) => {
        // The sink's own failure (the disk, the hashing thread) is what the fill rejects with.
        sink.fail(err)
        this.abort(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }
}

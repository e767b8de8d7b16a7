import { Worker } from 'node:worker_threads'
import type { Digest } from '../oci/digest.js'
import { FILE_MODE } from '../oci/atomic.js'

/**
 * A large blob arriving over the network is hashed and written on a worker thread, so the main
 * thread only receives: on two cores, hashing (about 1 s per GiB) then runs beside the network
 * reads instead of after them. Bytes travel in a few large buffers that are handed over, not
 * copied, and come back once written, so memory stays flat (BUFFERS × CHUNK).
 *
 * The worker's code is plain CommonJS given as a string: it runs the same from `src/` under
 * tsx or vitest and from `dist/`, with no second entry point to find on disk.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const hash = createHash(workerData.algorithm)
let fd
let size = 0
let failed = false
// Writes go through the thread pool, so the next buffer is hashed while this one is written.
let writing = Promise.resolve()
const fail = (err) => {
  if (failed) return
  failed = true
  parentPort.postMessage({ op: 'error', message: err.message, code: err.code })
}
const writeAll = (bytes) => new Promise((resolve, reject) => {
  const step = (off) => {
    if (off >= bytes.length) return resolve()
    fs.write(fd, bytes, off, bytes.length - off, null, (err, n) => (err ? reject(err) : step(off + n)))
  }
  step(0)
})
try {
  fd = fs.openSync(workerData.file, 'wx', workerData.mode)
} catch (err) {
  fail(err)
}
parentPort.on('message', (m) => {
  if (fd === undefined) return
  if (m.op === 'data') {
    const bytes = new Uint8Array(m.buffer, 0, m.length)
    hash.update(bytes)
    size += m.length
    writing = writing.then(() => failed || writeAll(bytes)).then(
      () => parentPort.postMessage({ op: 'buffer', buffer: m.buffer }, [m.buffer]),
      fail,
    )
  } else if (m.op === 'end') {
    writing.then(() => {
      fs.closeSync(fd)
      fd = undefined
      if (!failed) parentPort.postMessage({ op: 'done', size, hex: hash.digest('hex') })
    }).catch(fail)
  }
})
`

/** Bytes handed over at a time, and how many such buffers exist per blob. */
const CHUNK = 4 * 1024 * 1024
const BUFFERS = 4

type FromWorker = { op: 'buffer'; buffer: ArrayBuffer } | { op: 'done'; size: number; hex: string } | { op: 'error'; message: string; code?: string }

/** Writes one new file on a worker thread while hashing it. */
export class OffThreadWriter {
  private readonly worker: Worker
  private readonly free: ArrayBuffer[] = []
  private allocated = 0
  private current: Uint8Array | undefined
  private filled = 0
  private failure: Error | undefined
  private waiting: (() => void) | undefined
  private done: ((r: { size: number; hex: string }) => void) | undefined
  private readonly finished: Promise<{ size: number; hex: string }>

  constructor(file: string, algorithm: Digest['algorithm']) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, algorithm, mode: FILE_MODE } })
    let fail!: (err: Error) => void
    this.finished = new Promise((resolve, reject) => {
      this.done = resolve
      fail = reject
    })
    this.finished.catch(() => undefined) // observed by end(); a failure before then is kept in `failure`
    const onFailure = (err: Error) => {
      this.failure ??= err
      fail(this.failure)
      this.wake()
    }
    this.worker.on('message', (m: FromWorker) => {
      if (m.op === 'buffer') {
        this.free.push(m.buffer)
        this.wake()
      } else if (m.op === 'done') this.done?.({ size: m.size, hex: m.hex })
      // As the file system reported it (a missing directory is ENOENT, which the caller handles).
      else onFailure(Object.assign(new Error(m.message), { code: m.code }))
    })
    this.worker.on('error', onFailure)
    this.worker.on('exit', (code) => onFailure(new Error(`${file}: the hashing thread stopped (exit ${code})`)))
  }

  private wake(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  /** A buffer to fill: a returned one, a new one while fewer than BUFFERS exist, or the next to come back. */
  private async buffer(): Promise<Uint8Array> {
    for (;;) {
      if (this.failure) throw this.failure
      const b = this.free.pop()
      if (b) return new Uint8Array(b)
      if (this.allocated < BUFFERS) {
        this.allocated++
        return new Uint8Array(CHUNK)
      }
      await new Promise<void>((r) => (this.waiting = r))
    }
  }

  private send(): void {
    const buf = this.current!
    this.worker.postMessage({ op: 'data', buffer: buf.buffer, length: this.filled }, [buf.buffer as ArrayBuffer])
    this.current = undefined
    this.filled = 0
  }

  /** Queue bytes: copied into the current buffer, which goes to the worker once full. */
  async write(chunk: Uint8Array): Promise<void> {
    let off = 0
    while (off < chunk.byteLength) {
      this.current ??= await this.buffer()
      const n = Math.min(chunk.byteLength - off, CHUNK - this.filled)
      this.current.set(chunk.subarray(off, off + n), this.filled)
      this.filled += n
      off += n
      if (this.filled === CHUNK) this.send()
    }
  }

  /** Flush, close the file, and return how many bytes were written and their hash. */
  async end(): Promise<{ size: number; hex: string }> {
    try {
      if (this.failure) throw this.failure
      if (this.filled > 0) this.send()
      this.worker.postMessage({ op: 'end' })
      return await this.finished
    } finally {
      await this.worker.terminate()
    }
  }

  /** Stop without finishing: the worker closes the file (the caller removes it). */
  async abort(): Promise<void> {
    this.failure ??= new Error('aborted')
    this.worker.postMessage({ op: 'end' })
    await this.finished.catch(() => undefined)
    await this.worker.terminate()
  }
}

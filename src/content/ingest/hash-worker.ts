import { Worker } from 'node:worker_threads'
import type { Digest } from '../../oci/digest.js'
import { FILE_MODE } from '../../fs/atomic.js'
import type { BufferSink } from '../../fs/filler.js'

/**
 * A large blob that is not cloned (one arriving over the network, or a local file on ext4) is
 * hashed and written on a worker thread, so the main thread only reads: on two cores, hashing
 * (about 0.7 s per GiB) then runs beside the reads instead of after them.
 *
 * Bytes travel through a few slots of one shared memory, never copied between threads: the main
 * thread fills a slot (a socket or a file is read straight into it, or a stream's chunks are copied in), says
 * so, and gets the slot back once the worker has hashed and written it. Memory stays flat.
 *
 * The worker writes with O_DIRECT where the file system allows it: the bytes go from memory to
 * the disk instead of first into a gigabyte of new page cache. (On a virtual machine the kernel's
 * first touch of memory it has not used before is slow: writing a pulled GiB through the page
 * cache cost 1 to 3 s of system time, and varied the most of any part of a pull.) O_DIRECT needs
 * the memory, offsets and lengths aligned to the device's blocks. The page-aligned memory
 * JavaScript can ask for is a WebAssembly memory, so the slots live in a shared one. Every slot
 * but the last is sent full, so offsets stay aligned; the last is written rounded up and the
 * file cut back to its size. Where the file system refuses O_DIRECT, at open or at a write, the
 * worker writes through the page cache instead.
 *
 * The worker's code is plain CommonJS given as a string: it runs the same from `src/` under
 * tsx or vitest and from `dist/`, with no second entry point to find on disk.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECT } = fs.constants
const { file, algorithm, mode, chunk, memory, align } = workerData
const hash = createHash(algorithm)
const slotView = (slot) => new Uint8Array(memory, slot * chunk, chunk)
let direct // the O_DIRECT descriptor
let refused = true // until the direct open succeeds, and again once the file system refuses a direct write
let buffered // a plain one, opened when needed
let size = 0
let writes = 0
let ending = false
let failed = false
let closed = false
const fail = (err) => {
  if (failed) return
  failed = true
  parentPort.postMessage({ op: 'error', message: err.message, code: err.code })
  finish()
}
const writeAll = (fd, bytes, position) => new Promise((resolve, reject) => {
  const step = (off) => {
    if (off >= bytes.length) return resolve()
    fs.write(fd, bytes, off, bytes.length - off, position + off, (err, n) => (err ? reject(err) : step(off + n)))
  }
  step(0)
})
// A file system may take O_DIRECT at open and refuse its writes (EINVAL): then this write and all
// after it go through the page cache. (The direct descriptor stays open until the end: another
// write may be under way on it.)
const write = async (slot, length, position) => {
  if (!refused) {
    try {
      return await writeAll(direct, slot.subarray(0, Math.ceil(length / align) * align), position)
    } catch (err) {
      if (err.code !== 'EINVAL') throw err
      refused = true
    }
  }
  buffered ??= fs.openSync(file, 'r+')
  await writeAll(buffered, slot.subarray(0, length), position)
}
// Once everything asked for is written, or has failed, close the file and say so, once.
const finish = () => {
  if (closed || !ending || writes > 0) return
  closed = true
  try {
    // The last slot, written direct, was rounded up: cut the file back to what arrived.
    const fd = buffered ?? direct
    if (!failed && fd !== undefined && fs.fstatSync(fd).size !== size) fs.ftruncateSync(fd, size)
  } catch (err) {
    failed = true
    parentPort.postMessage({ op: 'error', message: err.message, code: err.code })
  }
  for (const fd of [direct, buffered]) if (fd !== undefined) fs.closeSync(fd)
  parentPort.postMessage(failed ? { op: 'closed' } : { op: 'done', size, hex: hash.digest('hex') })
}
try {
  if (O_DIRECT !== undefined) {
    try {
      direct = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, mode)
      refused = false
    } catch (err) {
      if (err.code !== 'EINVAL') throw err
    }
  }
  // Some file systems (ramfs) create the file before they refuse O_DIRECT. The name is this
  // write's alone; O_NOFOLLOW still refuses a link put in its place.
  if (refused) buffered = fs.openSync(file, O_WRONLY | O_CREAT | O_NOFOLLOW, mode)
} catch (err) {
  fail(err)
}
parentPort.on('message', (m) => {
  if (m.op === 'data') {
    if (failed) return
    const slot = slotView(m.slot)
    hash.update(slot.subarray(0, m.length))
    const position = size
    size += m.length
    // Written at its place while the next slots are hashed; the slot goes back once written.
    writes++
    write(slot, m.length, position).then(
      () => {
        writes--
        parentPort.postMessage({ op: 'slot', slot: m.slot })
        finish()
      },
      (err) => {
        writes--
        fail(err)
      },
    )
  } else if (m.op === 'end') {
    ending = true
    finish()
  } else if (m.op === 'abort') {
    // The main thread gave up: write nothing more, and close the file once the writes under way end.
    failed = true
    ending = true
    finish()
  }
})
`

/** Bytes sent at a time (a slot), and how many slots one blob has: one filling, one hashing, the rest writing. */
const CHUNK = 2 * 1024 * 1024
const SLOTS = 12
/** O_DIRECT's alignment of offsets and lengths: a page, which covers 512-byte and 4 KiB sectors. */
const ALIGN = 4096
/** A WebAssembly memory grows in pages of 64 KiB, and its start is page-aligned. */
const WASM_PAGE = 65536
/**
 * Slot memories of writers that have finished, for the next ones to take. A shared memory is
 * freed only when the garbage collector comes to it, which can be many blobs later: a build of
 * eight 64 MiB layers held all eight (284 MB). Kept: as many as run at once, up to this many.
 */
const spare: SharedArrayBuffer[] = []
const SPARE = 4
/** (TypeScript's Node types do not describe WebAssembly; this is the one constructor used.) */
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } }

type FromWorker = { op: 'slot'; slot: number } | { op: 'done'; size: number; hex: string } | { op: 'closed' } | { op: 'error'; message: string; code?: string }

/** Writes one new file on a worker thread while hashing it. */
export class OffThreadWriter implements BufferSink {
  private readonly worker: Worker
  private readonly memory: SharedArrayBuffer
  private readonly slots: Uint8Array[]
  /** Slots the main thread may fill (the rest are with the worker), and the one being filled. */
  private readonly free: number[]
  private current: number | undefined
  private used = 0
  private failure: Error | undefined
  private waiting: (() => void) | undefined
  /** Settles once the worker has closed the file: with its size and hash, or with the failure. */
  private readonly finished: Promise<{ size: number; hex: string }>

  /** `align`: the alignment direct writes are rounded to (a test gives one the disk refuses). */
  constructor(file: string, algorithm: Digest['algorithm'], { align = ALIGN }: { align?: number } = {}) {
    const pages = (CHUNK * SLOTS) / WASM_PAGE
    const memory = (this.memory = spare.pop() ?? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer)
    this.slots = Array.from({ length: SLOTS }, (_, i) => new Uint8Array(memory, i * CHUNK, CHUNK))
    this.free = this.slots.map((_, i) => SLOTS - 1 - i)
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, algorithm, mode: FILE_MODE, chunk: CHUNK, memory, align } })
    let done!: (r: { size: number; hex: string }) => void
    let fail!: (err: Error) => void
    this.finished = new Promise((resolve, reject) => {
      done = resolve
      fail = reject
    })
    this.finished.catch(() => undefined) // observed by end() or abort(); a failure before then is kept in `failure`
    const onFailure = (err: Error) => {
      this.failure ??= err
      this.wake()
    }
    this.worker.on('message', (m: FromWorker) => {
      if (m.op === 'slot') {
        this.free.push(m.slot)
        this.wake()
      } else if (m.op === 'done') done({ size: m.size, hex: m.hex })
      else if (m.op === 'closed') fail(this.failure ?? new Error(`${file}: not written`))
      // As the file system reported it (a missing directory is ENOENT, which the caller handles).
      else onFailure(Object.assign(new Error(m.message), { code: m.code }))
    })
    const onGone = (err: Error) => {
      onFailure(err)
      fail(this.failure!)
    }
    this.worker.on('error', onGone)
    this.worker.on('exit', (code) => onGone(new Error(`${file}: the hashing thread stopped (exit ${code})`)))
  }

  private wake(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  /** Room in the slot being filled, or in a free one; undefined while the worker has them all. */
  room(): Uint8Array | undefined {
    if (this.failure) return undefined
    this.current ??= this.free.pop()
    return this.current === undefined ? undefined : this.slots[this.current]!.subarray(this.used)
  }

  /** `n` bytes were put in the room: the slot goes to the worker once full. */
  filled(n: number): void {
    this.used += n
    if (this.used === CHUNK) this.send()
  }

  /** Resolves once a slot came back; rejects once the worker failed. */
  async whenRoom(): Promise<void> {
    while (!this.failure && !this.room()) await new Promise<void>((r) => (this.waiting = r))
    if (this.failure) throw this.failure
  }

  private send(): void {
    this.worker.postMessage({ op: 'data', slot: this.current, length: this.used })
    this.current = undefined
    this.used = 0
  }

  /** Flush, close the file, and return how many bytes were written and their hash. */
  async end(): Promise<{ size: number; hex: string }> {
    try {
      if (this.failure) throw this.failure
      if (this.used > 0) this.send()
      this.worker.postMessage({ op: 'end' })
      return await this.finished
    } finally {
      await this.release()
    }
  }

  /** Stop without finishing: the worker closes the file (the caller removes it). */
  async abort(): Promise<void> {
    this.failure ??= new Error('aborted')
    this.worker.postMessage({ op: 'abort' })
    await this.finished.catch(() => undefined)
    await this.release()
  }

  /** Stop the worker; once it is gone, its slots are free for the next writer. */
  private async release(): Promise<void> {
    await this.worker.terminate()
    if (spare.length < SPARE && !spare.includes(this.memory)) spare.push(this.memory)
  }
}

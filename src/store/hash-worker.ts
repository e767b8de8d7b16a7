import { Worker } from 'node:worker_threads'
import type { Digest } from '../oci/digest.js'
import { FILE_MODE } from '../oci/atomic.js'

/**
 * A large blob arriving over the network is hashed and written on a worker thread, so the main
 * thread only receives: on two cores, hashing (about 0.7 s per GiB) then runs beside the network
 * reads instead of after them. Bytes travel in a few large buffers that are handed over, not
 * copied, and come back once the worker is done with them, so memory stays flat.
 *
 * The worker writes with O_DIRECT where the file system allows it: the bytes go from memory to
 * the disk instead of first into a gigabyte of new page cache. (On a virtual machine the kernel's
 * first touch of memory it has not used before is slow: writing a pulled GiB through the page
 * cache cost 1 to 3 s of system time, and varied the most of any part of a pull.) O_DIRECT needs
 * the memory, offsets and lengths aligned to the device's blocks. The page-aligned memory
 * JavaScript can ask for is a WebAssembly memory, so the worker copies each buffer into one of a
 * few slots there (a fifth of a second per GiB), hands the buffer back at once, and writes the
 * slot at its place in the file while the next buffers are hashed. Every buffer but the last is
 * full, so offsets stay aligned; the last is written rounded up and the file cut back to its
 * size. Where the file system refuses O_DIRECT, at open or at a write, the worker writes through
 * the page cache instead.
 *
 * The worker's code is plain CommonJS given as a string: it runs the same from `src/` under
 * tsx or vitest and from `dist/`, with no second entry point to find on disk.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECT } = fs.constants
const { file, algorithm, mode, chunk, slots: slotCount, align } = workerData
const hash = createHash(algorithm)
// A WebAssembly memory is page-aligned, and grows in pages of 64 KiB.
const pages = (chunk * slotCount) / 65536
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer
const slots = Array.from({ length: slotCount }, (_, i) => new Uint8Array(memory, i * chunk, chunk))
const free = slots.map((_, i) => i)
let direct // the O_DIRECT descriptor
let refused = true // until the direct open succeeds, and again once the file system refuses a direct write
let buffered // a plain one, opened when needed
let size = 0
const queue = [] // buffers received and hashed, not yet being written
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
const giveBack = (bytes) => parentPort.postMessage({ op: 'buffer', buffer: bytes.buffer }, [bytes.buffer])
// A file system may take O_DIRECT at open and refuse its writes (EINVAL): then this write and all
// after it go through the page cache. (The direct descriptor stays open until the end: another
// write may be under way on it.)
const writeDirect = async (slot, length, position) => {
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
const started = (writing, done) => {
  writes++
  writing.then(
    () => {
      writes--
      done()
      pump()
    },
    (err) => {
      writes--
      fail(err)
    },
  )
}
// Start writing what is queued: direct from a free slot (the buffer goes back at once), or
// through the page cache from the buffer itself (it goes back once written).
const pump = () => {
  while (!failed && queue.length > 0) {
    const { bytes, position } = queue[0]
    if (!refused) {
      if (free.length === 0) break
      queue.shift()
      const s = free.pop()
      const length = bytes.length
      slots[s].set(bytes)
      giveBack(bytes) // (which empties 'bytes')
      started(writeDirect(slots[s], length, position), () => free.push(s))
    } else {
      queue.shift()
      started(writeAll(buffered, bytes, position), () => giveBack(bytes))
    }
  }
  finish()
}
// Once everything asked for is written, or has failed, close the file and say so, once.
const finish = () => {
  if (closed || !ending || writes > 0 || (!failed && queue.length > 0)) return
  closed = true
  try {
    // The last buffer, written direct, was rounded up: cut the file back to what arrived.
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
    const bytes = new Uint8Array(m.buffer, 0, m.length)
    hash.update(bytes)
    queue.push({ bytes, position: size })
    size += m.length
    pump()
  } else if (m.op === 'end') {
    ending = true
    pump()
  } else if (m.op === 'abort') {
    // The main thread gave up: write nothing more, and close the file once the writes under way end.
    failed = true
    ending = true
    finish()
  }
})
`

/** Bytes handed over at a time, how many such buffers exist per blob, and how many slots the worker writes from. */
const CHUNK = 4 * 1024 * 1024
const BUFFERS = 4
const SLOTS = 2
/** O_DIRECT's alignment of offsets and lengths: a page, which covers 512-byte and 4 KiB sectors. */
const ALIGN = 4096

type FromWorker = { op: 'buffer'; buffer: ArrayBuffer } | { op: 'done'; size: number; hex: string } | { op: 'closed' } | { op: 'error'; message: string; code?: string }

/** Writes one new file on a worker thread while hashing it. */
export class OffThreadWriter {
  private readonly worker: Worker
  private readonly free: ArrayBuffer[] = []
  private allocated = 0
  private current: Uint8Array | undefined
  private filled = 0
  private failure: Error | undefined
  private waiting: (() => void) | undefined
  /** Settles once the worker has closed the file: with its size and hash, or with the failure. */
  private readonly finished: Promise<{ size: number; hex: string }>

  /** `align`: the alignment direct writes are rounded to (a test gives one the disk refuses). */
  constructor(file: string, algorithm: Digest['algorithm'], { align = ALIGN }: { align?: number } = {}) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, algorithm, mode: FILE_MODE, chunk: CHUNK, slots: SLOTS, align } })
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
      if (m.op === 'buffer') {
        this.free.push(m.buffer)
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
    this.worker.postMessage({ op: 'abort' })
    await this.finished.catch(() => undefined)
    await this.worker.terminate()
  }
}

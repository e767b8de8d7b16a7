import { constants, promises as fs } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { FileHandle } from 'node:fs/promises'
import type { Hash } from 'node:crypto'
import { OcisiteError } from '../../errors.js'
import { FILE_MODE, openRegular, readSmall, replaceAtomically, writeFileAtomic, type FileStamp } from '../../fs/atomic.js'
import { createDigester, type Digest } from '../../oci/digest.js'
import { limiter } from '../../concurrency.js'
import { OffThreadWriter } from './hash-worker.js'
import { chunksOf, fileFiller, streamFiller, type BufferSink, type Filler } from '../../fs/filler.js'

/** What a verified write expects, and how to name the source in errors. */
export interface Expected {
  digest: Digest
  size: number
  label: string
}

/** Where a blob's bytes come from: a local file (which can be cloned), a stream, or a filler (a socket that reads into the writer's buffers). */
export type BlobBytes =
  | { file: string; /** Its stamp, when the store took one while checking it. */ stamp?: FileStamp }
  | { stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
  | { filler: Filler }

/** Large reads and writes: a few syscalls per MiB instead of dozens. */
const IO_CHUNK = 4 * 1024 * 1024
/** From this size a streamed blob is hashed on a worker thread (starting one costs a few ms), and a remote store offers a filler. */
export const OFF_THREAD = 16 * 1024 * 1024
/** Below this a blob is read whole: one read, one hash, one write. */
const SMALL = 1024 * 1024

function sizeError(expected: Expected, actual: number | 'longer'): OcisiteError {
  const what = actual === 'longer' ? `is longer than the ${expected.size} bytes its descriptor says` : `is ${actual} bytes, but its descriptor says ${expected.size}`
  return new OcisiteError('SIZE_MISMATCH', `${expected.label}: blob ${expected.digest.value} ${what}`, { digest: expected.digest.value })
}

/** Check a size and a hash against what was expected; the one place a mismatch is reported. */
export function checkDigest(expected: Expected, size: number, hex: string): void {
  if (size !== expected.size) throw sizeError(expected, size)
  const actual = `${expected.digest.algorithm}:${hex}`
  if (actual !== expected.digest.value) {
    throw new OcisiteError('DIGEST_MISMATCH', `${expected.label}: digest mismatch: blob ${expected.digest.value} has digest ${actual}`, { digest: expected.digest.value })
  }
}

/** Verify bytes already in memory (a small document). */
export function verifyBytes(bytes: Uint8Array, expected: Expected): void {
  checkDigest(expected, bytes.byteLength, createDigester(expected.digest.algorithm).update(bytes).digest('hex'))
}

/** Hash a local file with large reads; `onBytes` reports progress. Stops early past `limit` bytes. */
export async function hashFile(file: string, algorithm: Digest['algorithm'], onBytes?: (n: number) => void, limit = Infinity): Promise<{ size: number; hex: string }> {
  const { fh, size: fileSize } = await openRegular(file)
  try {
    const hash = createDigester(algorithm)
    // Two buffers: the next read runs in the thread pool while this one is hashed. (Sized to the
    // file: a small blob costs no large allocation; one that grew is still read to its end.)
    const chunk = Math.min(IO_CHUNK, fileSize + 1)
    const bufs = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)]
    let size = 0
    let turn = 0
    let reading = fh.read(bufs[0]!, 0, chunk, null)
    for (;;) {
      const { bytesRead } = await reading
      if (bytesRead === 0) break
      const buf = bufs[turn]!
      size += bytesRead
      turn ^= 1
      // Past the limit nothing more is read: the caller only needs to know it is longer.
      reading = size > limit ? Promise.resolve({ bytesRead: 0, buffer: buf }) : fh.read(bufs[turn]!, 0, chunk, null)
      hash.update(buf.subarray(0, bytesRead))
      onBytes?.(bytesRead)
    }
    return { size, hex: hash.digest('hex') }
  } finally {
    await fh.close()
  }
}

/** A sink on this thread: hashed as bytes arrive, written in large chunks while the next arrive. */
class HashingWriter {
  private readonly hash: Hash
  private size = 0
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private writing: Promise<unknown> = Promise.resolve()
  private constructor(
    private readonly fh: FileHandle,
    algorithm: Digest['algorithm'],
  ) {
    this.hash = createDigester(algorithm)
  }

  static async create(file: string, algorithm: Digest['algorithm']): Promise<HashingWriter> {
    return new HashingWriter(await fs.open(file, 'wx', FILE_MODE), algorithm)
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk)
    this.size += chunk.byteLength
    this.pending.push(chunk)
    this.pendingBytes += chunk.byteLength
    if (this.pendingBytes >= IO_CHUNK) await this.flush()
  }

  private async flush(): Promise<void> {
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    await this.writing
    // The write runs while the next chunks arrive and are hashed.
    this.writing = this.fh.write(chunk)
  }

  async end(): Promise<{ size: number; hex: string }> {
    try {
      if (this.pendingBytes > 0) await this.flush()
      await this.writing
      return { size: this.size, hex: this.hash.digest('hex') }
    } finally {
      await this.fh.close()
    }
  }

  async abort(): Promise<void> {
    await this.writing.catch(() => undefined)
    await this.fh.close()
  }
}

/**
 * A blob from a stream (the network), counted against its size as it arrives. A large one is
 * copied into a hashing thread's slots and goes the filler's way, so hashing and writing overlap
 * with receiving on two cores; a small one is not worth starting a thread for.
 */
async function writeFromStream(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, tmp: string, expected: Expected, onBytes?: (n: number) => void): Promise<void> {
  if (expected.size >= OFF_THREAD) return writeFromFiller(streamFiller(stream, expected.size), tmp, expected, onBytes)
  const sink = await HashingWriter.create(tmp, expected.digest.algorithm)
  let size = 0
  try {
    for await (const chunk of stream) {
      size += chunk.byteLength
      if (size > expected.size) throw sizeError(expected, 'longer')
      await sink.write(chunk)
      onBytes?.(chunk.byteLength)
    }
  } catch (err) {
    await sink.abort()
    throw err
  }
  const written = await sink.end()
  checkDigest(expected, written.size, written.hex)
}

/**
 * A large blob from a filler (a socket, a file, or a stream copied in), on a hashing thread:
 * every large blob that is not cloned is written this one way.
 */
async function writeFromFiller(filler: Filler, tmp: string, expected: Expected, onBytes?: (n: number) => void): Promise<void> {
  const writer = new OffThreadWriter(tmp, expected.digest.algorithm)
  const sink: BufferSink = {
    room: () => writer.room(),
    filled: (n) => {
      writer.filled(n)
      onBytes?.(n)
    },
    whenRoom: () => writer.whenRoom(),
  }
  try {
    await filler.fill(sink)
  } catch (err) {
    await writer.abort()
    throw err
  }
  const written = await writer.end()
  // (A filler stops reading past the expected size: its count is then not the source's size.)
  if (written.size > expected.size) throw sizeError(expected, 'longer')
  checkDigest(expected, written.size, written.hex)
}

/**
 * Local large blobs read into hashing threads at once: reading and hashing a file is bound by
 * the CPU, so more threads than cores gain nothing and each holds its own buffers.
 */
const localHashing = limiter(availableParallelism())

/** What a file system says when it cannot clone (ext4, tmpfs, two file systems). */
const CANNOT_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS'])

/**
 * A local blob (over 1 MiB). A clone (reflink, on XFS or btrfs) shares the source's blocks:
 * nothing is copied, and the source is hashed. Elsewhere (ext4) the source is read once and the
 * bytes written are the bytes hashed: from 16 MiB straight into a hashing thread, which writes
 * past the page cache; below, on this thread (a thread is not worth starting).
 */
async function writeFromFile(file: string, tmp: string, expected: Expected, onBytes?: (n: number) => void): Promise<void> {
  const cloned = await fs.copyFile(file, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (CANNOT_CLONE.has(err.code ?? '')) return false
      throw err
    },
  )
  if (!cloned) {
    const source = fileFiller(file, expected.size)
    if (expected.size >= OFF_THREAD) return localHashing(() => writeFromFiller(source, tmp, expected, onBytes))
    return writeFromStream(chunksOf(source), tmp, expected, onBytes)
  }
  const hashed = await hashFile(file, expected.digest.algorithm, onBytes, expected.size)
  checkDigest(expected, hashed.size, hashed.hex)
  const copied = await fs.stat(tmp)
  if (copied.size !== expected.size) throw sizeError(expected, copied.size)
}

/**
 * The one way a blob is written: into a temporary file beside `target` while its size and digest
 * are checked, then renamed into place. Memory stays flat; on any failure the temporary file is
 * removed and nothing is left. `onBytes` reports progress as bytes are read.
 */
export async function writeVerified(source: BlobBytes, target: string, expected: Expected, onBytes?: (n: number) => void): Promise<void> {
  if ('file' in source && expected.size <= SMALL) {
    // Small: one read, one hash, one write, on the spot (thousands of small blobs would
    // otherwise spend their time in thread-pool round trips).
    const bytes = readSmall(source.file, expected.size, (actual) => sizeError(expected, actual))
    onBytes?.(bytes.byteLength)
    verifyBytes(bytes, expected)
    await writeFileAtomic(target, bytes)
    return
  }
  try {
    await replaceAtomically(target, async (tmp) => {
      if ('file' in source) await writeFromFile(source.file, tmp, expected, onBytes)
      else if ('filler' in source) await writeFromFiller(source.filler, tmp, expected, onBytes)
      else await writeFromStream(source.stream, tmp, expected, onBytes)
      await fs.chmod(tmp, FILE_MODE)
    })
  } finally {
    // A filler not read (the temporary file could not be made) closes its connection.
    if ('filler' in source) source.filler.destroy()
  }
}

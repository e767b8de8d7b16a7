import { openRegular } from './atomic.js'

/**
 * Bytes that read themselves into buffers they are handed, like a web stream's BYOB reader: a
 * socket that reads straight into the memory the hashing thread takes, with no copy on the way
 * (each copy of a pulled GiB costs a tenth of a second or more, and a pull is CPU-bound).
 */
export interface Filler {
  /** Read every byte into `sink`; resolves once all of them are there. */
  fill(sink: BufferSink): Promise<void>
  /** Stop, and close what is open (a fill under way rejects). */
  destroy(): void
}

/** Where a filler puts bytes: free room, the bytes it was given, and a wait when it is full. */
export interface BufferSink {
  /** Free room for the next bytes, or undefined while none is free. */
  room(): Uint8Array | undefined
  /** `n` bytes were put at the start of the last room given. */
  filled(n: number): void
  /** Resolves once `room()` has room again; rejects if the sink failed. */
  whenRoom(): Promise<void>
}

/** Copy what fits of `bytes` into the sink's room; returns how many were put (0: it has none now). */
export function putInto(sink: BufferSink, bytes: Uint8Array): number {
  const room = sink.room()
  if (!room) return 0
  const n = Math.min(room.byteLength, bytes.byteLength)
  copyInto(room, bytes.subarray(0, n))
  sink.filled(n)
  return n
}

/** A bounce buffer for copies into shared memory, and its size. */
const STAGE = 256 * 1024
let stage: Uint8Array | undefined

/**
 * Copy `bytes` to the start of `room`. Into shared memory (the hashing thread's) V8 copies byte
 * by byte unless source and target are 8-byte aligned alike, eight times slower than a copy: a
 * misaligned source (a network chunk starts anywhere) then goes through a bounce buffer aligned
 * as the target, which costs two fast copies instead.
 */
function copyInto(room: Uint8Array, bytes: Uint8Array): void {
  const shift = room.byteOffset & 7
  if (!(room.buffer instanceof SharedArrayBuffer) || ((bytes.byteOffset - shift) & 7) === 0) return room.set(bytes)
  stage ??= new Uint8Array(STAGE + 8)
  for (let at = 0; at < bytes.byteLength; at += STAGE) {
    const part = bytes.subarray(at, at + STAGE)
    const bounce = stage.subarray(shift, shift + part.byteLength)
    bounce.set(part)
    room.set(bounce, at)
  }
}

/** Chunks queued ahead of their reader before the filler is made to wait. */
const QUEUED = 4 * 1024 * 1024
const BUFFER = 1024 * 1024

/**
 * A filler's bytes as chunks, for a consumer that cannot hand it buffers (an upload). Each chunk
 * is a view of a buffer that is never reused, yielded as soon as its bytes arrived.
 */
export async function* chunksOf(filler: Filler): AsyncGenerator<Uint8Array> {
  const ready: Uint8Array[] = []
  let queued = 0
  let buf = new Uint8Array(BUFFER)
  let used = 0
  let finished = false
  let failure: { err: unknown } | undefined
  let wake: (() => void) | undefined
  let resume: (() => void) | undefined
  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const sink: BufferSink = {
    room: () => (queued >= QUEUED ? undefined : buf.subarray(used)),
    filled: (n) => {
      ready.push(buf.subarray(used, used + n))
      queued += n
      used += n
      if (used === buf.length) {
        buf = new Uint8Array(BUFFER)
        used = 0
      }
      notify()
    },
    whenRoom: () => (queued < QUEUED ? Promise.resolve() : new Promise<void>((r) => (resume = r))),
  }
  filler.fill(sink).then(
    () => {
      finished = true
      notify()
    },
    (err: unknown) => {
      failure = { err }
      notify()
    },
  )
  try {
    for (;;) {
      const chunk = ready.shift()
      if (chunk) {
        queued -= chunk.byteLength
        const r = resume
        resume = undefined
        r?.()
        yield chunk
        continue
      }
      if (failure) throw failure.err
      if (finished) return
      await new Promise<void>((r) => (wake = r))
    }
  } finally {
    // A reader that stops early leaves nothing open.
    if (!finished) filler.destroy()
  }
}

/**
 * A local file as a filler: read once, in reads as large as the room given, straight into the
 * sink's buffers. Reading stops past `limit` bytes (the caller only needs to know it is longer).
 */
export function fileFiller(file: string, limit: number): Filler {
  let stopped = false
  return {
    async fill(sink) {
      const { fh } = await openRegular(file)
      try {
        let total = 0
        while (total <= limit) {
          if (stopped) throw new Error(`${file}: reading stopped`)
          const room = sink.room()
          if (!room) {
            await sink.whenRoom()
            continue
          }
          const { bytesRead } = await fh.read(room, 0, room.byteLength, null)
          if (bytesRead === 0) return
          total += bytesRead
          sink.filled(bytesRead)
        }
      } finally {
        await fh.close()
      }
    },
    destroy() {
      stopped = true
    },
  }
}

/**
 * A stream's chunks as a filler, for a source that cannot read into buffers itself (HTTPS, a
 * redirected or chunked answer): each chunk is copied into the sink's room. Reading stops past
 * `limit` bytes, which closes the stream.
 */
export function streamFiller(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, limit: number): Filler {
  let stopped = false
  return {
    async fill(sink) {
      let total = 0
      for await (const chunk of stream) {
        let off = 0
        while (off < chunk.byteLength) {
          if (stopped) throw new Error('reading stopped')
          const n = putInto(sink, chunk.subarray(off))
          if (n === 0) await sink.whenRoom()
          off += n
        }
        total += chunk.byteLength
        if (total > limit) return
      }
    },
    destroy() {
      stopped = true
    },
  }
}

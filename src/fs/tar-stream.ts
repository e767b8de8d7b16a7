import { createWriteStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import * as tar from 'tar'
import { EntryRules, type TarPolicy, type Verdict } from './tar-rules.js'

/** Inflated a chunk at a time: a gzip chunk can only grow so far before tar drains it. */
export const TAR_CHUNK = 64 * 1024

/** Counts bytes flowing through, and stops the stream past `limit`. */
export function byteLimit(limit: number, onExceeded: () => void): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.byteLength
      if (seen > limit) {
        onExceeded()
        done(new Error('archive too large'))
      } else done(null, chunk)
    },
  })
}

/** How a stream of tar bytes was extracted. */
export interface TarOutcome {
  /** The first entry the rules refused: nothing after it was written, but every byte was read. */
  refused?: string
  /** The stream failed: it is not tar (or gzip), it was cut short, or the source failed. */
  unreadable?: unknown
  /** More than `maxSize` bytes of tar (uncompressed). */
  tooLarge?: boolean
  /** Symlinks that stay inside, by member name, with the member name each leads to (policy `record`). */
  links: Map<string, string>
}

export interface TarStreamOptions {
  policy: TarPolicy
  gzip: boolean
  /** Most bytes of tar stream (after gunzip). */
  maxSize?: number
}

type Entry = tar.ReadEntry

/**
 * Extract a stream of tar bytes (gzip-compressed or not) into `dest`, entry by entry, in flat
 * memory: each file streams to disk before the next entry is read. Every entry passes
 * `EntryRules` first; after a refusal the rest is only read (so the caller can still check the
 * bytes' digest). A failure to write (the disk, permissions) is thrown; everything else is in the
 * outcome.
 */
export async function extractTarStream(source: AsyncIterable<Uint8Array>, dest: string, options: TarStreamOptions): Promise<TarOutcome> {
  const rules = new EntryRules(options.policy)
  const writer = new EntryWriter(dest, options.policy)
  const outcome: TarOutcome = { links: writer.links }
  let writeError: unknown
  // Set when the stream fails: the entry being written waits for bytes that will not come.
  const stopped = new AbortController()
  // Entries are placed one after another, in archive order, on this chain (which never rejects).
  let placing: Promise<void> = Promise.resolve()
  const place = async (entry: Entry) => {
    try {
      if (outcome.refused !== undefined || writeError !== undefined || stopped.signal.aborted) return
      const verdict = rules.check(entry.path, entry.type, entry.linkpath)
      if (verdict.kind === 'refuse') outcome.refused = verdict.reason
      else await writer.place(verdict, entry, stopped.signal)
    } catch (err) {
      // Once the stream has failed, the write it stopped is no fault of its own.
      if (!(stopped.signal.aborted && (err as Error).name === 'AbortError')) writeError ??= err
    } finally {
      // Whatever was not consumed is read past, so the parser goes on to the next entry.
      entry.resume()
    }
  }
  const parser = new tar.Parser({ strict: true, onReadEntry: (entry) => void (placing = placing.then(() => place(entry))) })
  const stages = [...(options.gzip ? [createGunzip({ chunkSize: TAR_CHUNK })] : []), ...(options.maxSize === undefined ? [] : [byteLimit(options.maxSize, () => (outcome.tooLarge = true))])]
  try {
    await pipeline([source instanceof Readable ? source : Readable.from(source, { objectMode: false }), ...stages, parser])
  } catch (err) {
    outcome.unreadable = err
    stopped.abort(err)
  }
  // The parser has emitted every entry by the time it finishes, so this chain is complete.
  await placing
  if (writeError !== undefined) throw writeError
  return outcome
}

/** Writes what the rules allowed, under `dest`. */
class EntryWriter {
  readonly links = new Map<string, string>()
  private readonly made = new Set<string>()

  constructor(
    private readonly dest: string,
    private readonly policy: TarPolicy,
  ) {}

  private abs(name: string): string {
    return path.join(this.dest, ...name.split('/'))
  }

  /** mkdir -p of a (checked) directory name, once. */
  private async dir(name: string): Promise<void> {
    if (name === '.' || name === '' || this.made.has(name)) return
    await fs.mkdir(this.abs(name), { recursive: true, mode: 0o755 })
    this.made.add(name)
  }

  /** Write one entry; `signal` stops a file whose bytes will not come. */
  async place(verdict: Exclude<Verdict, { kind: 'refuse' }>, entry: Entry, signal: AbortSignal): Promise<void> {
    if (verdict.kind === 'skip') return
    if (verdict.kind === 'dir') return this.dir(verdict.name)
    if (verdict.kind === 'symlink' && this.policy.symlinks === 'record') {
      this.links.set(verdict.name, verdict.target)
      return
    }
    await this.dir(path.posix.dirname(verdict.name))
    const file = this.abs(verdict.name)
    // 'wx': a name the rules let through is new; nothing is ever written through what is there.
    if (verdict.kind === 'symlink') return fs.symlink(verdict.link, file)
    if (verdict.kind === 'hardlink') return fs.link(this.abs(verdict.target), file)
    const mode = (entry.mode ?? 0o644) & 0o100 ? 0o755 : 0o644
    await pipeline(chunks(entry), createWriteStream(file, { flags: 'wx', mode }), { signal })
  }
}

/** An entry's bytes; stopping early (a failed write) pauses the entry rather than destroying it. */
async function* chunks(entry: Entry): AsyncGenerator<Buffer> {
  for await (const chunk of entry) yield chunk as Buffer
}

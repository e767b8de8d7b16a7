import { promises as fs } from 'node:fs'
import { isRacy, lstatOrUndefined, stampAt, stampOf, writeFileAtomic, type FileStamp } from '../fs/atomic.js'

/** The format written into the cache file; any other is ignored (it only costs re-hashing). */
const FORMAT = 'ocisite-verified-2'

/**
 * An entry: the digest a file was verified to hold, then its stamp (device, inode, size, mtime
 * and ctime; ctime last, for the racy rule). One string per file, so a cache of hundreds of
 * thousands of files loads and compares quickly.
 */
function keyOf(digest: string, stamp: FileStamp): string {
  return `${digest} ${stamp}`
}

/** The stamp part of a key. */
function stampOfKey(key: string): FileStamp {
  return key.slice(key.indexOf(' ') + 1)
}

/** A file's stamp (from the caller, or taken now), if it is a regular file. */
function stampNow(file: string, known?: FileStamp): FileStamp | undefined {
  if (known !== undefined) return known
  const st = lstatOrUndefined(file)
  return st?.isFile() ? stampOf(st) : undefined
}

/**
 * Files whose bytes were verified, keyed by device, inode, size, mtime and ctime: a file whose stat
 * is unchanged is trusted without reading it again; anything else is hashed. Entries changed
 * within the last moments before saving are left out, as a rewrite in the same clock tick would
 * not change the stat (git's "racily clean" rule).
 */
export class VerifyCache {
  /** File → key (see keyOf). */
  private entries = new Map<string, string>()
  private dirty = false
  private constructor(private readonly file: string | undefined) {}

  /** An empty cache that is never saved: it vouches only for what this run verified. */
  static inMemory(): VerifyCache {
    return new VerifyCache(undefined)
  }

  /** A cache kept in `file` (created on save), or an empty one that is never saved. */
  static async load(file: string | undefined): Promise<VerifyCache> {
    const cache = new VerifyCache(file)
    if (!file) return cache
    const bytes = await fs.readFile(file).catch(() => undefined)
    if (!bytes) return cache
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { format?: unknown; files?: unknown }
      if (doc.format !== FORMAT || !Array.isArray(doc.files)) return cache
      for (const line of doc.files) {
        const tab = typeof line === 'string' ? line.indexOf('\t') : -1
        if (tab > 0) cache.entries.set(line.slice(0, tab), line.slice(tab + 1))
      }
    } catch {
      // A damaged cache only costs re-hashing.
    }
    return cache
  }

  /** True when `file` was verified to hold `digest` and has not changed since (`stamp`: its stamp, if at hand). */
  verified(file: string, digest: string, stamp?: FileStamp): boolean {
    const key = this.entries.get(file)
    if (key === undefined) return false
    const now = stampNow(file, stamp)
    return now !== undefined && key === keyOf(digest, now)
  }

  /** Remember that `file` (as it is now, or as `stamp` saw it) holds `digest`. */
  record(file: string, digest: string, stamp?: FileStamp): void {
    const now = stampNow(file, stamp)
    if (now === undefined) return
    const key = keyOf(digest, now)
    if (this.entries.get(file) === key) return
    this.entries.set(file, key)
    this.dirty = true
  }

  /**
   * True when every file the cache knows still has the stamp it was verified with (one lstat
   * each): nothing it vouches for has changed since.
   */
  unchanged(): boolean {
    for (const [file, key] of this.entries) if (stampOfKey(key) !== stampAt(file)) return false
    return true
  }

  /** How many files the cache vouches for. */
  get size(): number {
    return this.entries.size
  }

  forget(file: string): void {
    if (this.entries.delete(file)) this.dirty = true
  }

  /**
   * Save, keeping only `keep` (the files still in use), and leaving out racily recent ones.
   * Returns how many files the saved cache vouches for (0 for a cache that is never saved).
   */
  async save(keep: (file: string) => boolean): Promise<number> {
    if (!this.file) return 0
    if (!this.dirty && [...this.entries.keys()].every(keep)) return this.entries.size // a no-op rebuild rewrites nothing
    const now = Date.now()
    const files: string[] = []
    for (const [path, key] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (keep(path) && !isRacy(stampOfKey(key), now)) files.push(`${path}\t${key}`)
    }
    await writeFileAtomic(this.file, Buffer.from(JSON.stringify({ format: FORMAT, files })))
    return files.length
  }
}

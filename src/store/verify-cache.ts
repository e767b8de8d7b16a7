import { lstatSync, promises as fs, type BigIntStats } from 'node:fs'
import { writeFileAtomic } from '../oci/atomic.js'

/** What identifies a file's content without reading it, as git's index does. */
interface StatKey {
  dev: string
  ino: string
  size: string
  mtimeNs: string
  ctimeNs: string
}

interface Entry extends StatKey {
  digest: string
}

/**
 * A file's stat identity: from the lstat the caller already took (the usual case: no syscall),
 * or a synchronous lstat (metadata of a file just written: cached, and microseconds).
 */
function statKey(file: string, known?: BigIntStats): (StatKey & { ctime: bigint }) | undefined {
  let st = known
  try {
    st ??= lstatSync(file, { bigint: true, throwIfNoEntry: false })
  } catch {
    return undefined
  }
  if (!st?.isFile()) return undefined
  return { dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ctime: st.ctimeNs }
}

const sameStat = (a: StatKey, b: StatKey) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

/**
 * Files whose bytes were verified, keyed by device, inode, size, mtime and ctime: a file whose stat
 * is unchanged is trusted without reading it again; anything else is hashed. Entries changed
 * within the last moments before saving are left out, as a rewrite in the same clock tick would
 * not change the stat (git's "racily clean" rule).
 */
export class VerifyCache {
  private entries = new Map<string, Entry>()
  private dirty = false
  private constructor(private readonly file: string | undefined) {}

  /** A cache kept in `file` (created on save), or an empty one that is never saved. */
  static async load(file: string | undefined): Promise<VerifyCache> {
    const cache = new VerifyCache(file)
    if (!file) return cache
    const bytes = await fs.readFile(file).catch(() => undefined)
    if (!bytes) return cache
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { files?: Record<string, Entry> }
      for (const [path, e] of Object.entries(doc.files ?? {})) if (typeof e?.digest === 'string') cache.entries.set(path, e)
    } catch {
      // A damaged cache only costs re-hashing.
    }
    return cache
  }

  /** True when `file` was verified to hold `digest` and has not changed since (`stat`: its lstat, if at hand). */
  async verified(file: string, digest: string, stat?: BigIntStats): Promise<boolean> {
    const e = this.entries.get(file)
    if (!e || e.digest !== digest) return false
    const now = statKey(file, stat)
    return !!now && sameStat(e, now)
  }

  /** Remember that `file` (as it is now) holds `digest`. */
  async record(file: string, digest: string): Promise<void> {
    const key = statKey(file)
    if (!key) return
    const { ctime: _ctime, ...stat } = key
    this.entries.set(file, { ...stat, digest })
    this.dirty = true
  }

  forget(file: string): void {
    if (this.entries.delete(file)) this.dirty = true
  }

  /** Save, keeping only `keep` (the files still in use), and leaving out racily recent ones. */
  async save(keep: (file: string) => boolean): Promise<void> {
    if (!this.file) return
    if (!this.dirty && [...this.entries.keys()].every(keep)) return // a no-op rebuild rewrites nothing
    // Kernel timestamps tick coarsely (a few ms): a file changed within the last 100 ms could change again unseen.
    const racy = (BigInt(Date.now()) - 100n) * 1_000_000n
    const files: Record<string, Entry> = {}
    for (const [path, e] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (keep(path) && BigInt(e.ctimeNs) < racy) files[path] = e
    }
    await writeFileAtomic(this.file, Buffer.from(JSON.stringify({ files })))
  }
}

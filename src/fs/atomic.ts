import { randomBytes } from 'node:crypto'
import { closeSync, constants, fchmodSync, lstatSync, openSync, promises as fs, readSync, renameSync, rmSync, writeSync, type BigIntStats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { OcisiteError } from '../errors.js'

/** Published files are world-readable whatever the input's modes (umoci writes 0600). */
export const FILE_MODE = 0o644
export const DIR_MODE = 0o755

/** This process's temporary names: random once, then counted (a random draw per file cost more than the write). */
const tempPrefix = `.ocisite-tmp-${randomBytes(4).toString('hex')}${process.pid.toString(36)}-`
let tempSeq = 0

/** A temporary name beside `target`, in ocisite's own temporary-file namespace. */
export function tempName(target: string): string {
  return path.join(path.dirname(target), `${tempPrefix}${(tempSeq++).toString(36)}-${path.basename(target)}`)
}

/**
 * Files created with FILE_MODE keep it unless the umask clears some of its bits: only then is a
 * chmod needed. (A worker thread cannot read the umask: there, every file is chmodded.)
 */
const umaskClearsFileMode = (() => {
  try {
    return (process.umask() & FILE_MODE) !== 0
  } catch {
    return true
  }
})()

export function isTempName(name: string): boolean {
  return name.startsWith('.ocisite-tmp-')
}

/** Temporary files being written right now, so a signal handler can remove them before exiting. */
const liveTemps = new Set<string>()

/** Track a temporary file while it is written; returns the call that stops tracking it. */
export function trackTemp(tmp: string): () => void {
  liveTemps.add(tmp)
  return () => liveTemps.delete(tmp)
}

/** Remove every temporary file still being written (for SIGINT/SIGTERM handlers; synchronous). */
export function removeLiveTempFilesSync(): void {
  for (const tmp of liveTemps) rmSync(tmp, { force: true })
  liveTemps.clear()
}

/** mkdir -p below `root`, giving each directory it creates mode 0755 whatever the umask. */
export async function ensureDir(dir: string): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true, mode: DIR_MODE })
  if (!first) return
  for (let d = dir; ; d = path.dirname(d)) {
    await fs.chmod(d, DIR_MODE)
    if (d === first || d === path.dirname(d)) break
  }
}

/**
 * The one way a file replaces another: `fill` writes a temporary file beside `target` (its
 * directory is created), which is then renamed over it, so readers never see half a file. On any
 * failure the temporary file is removed and nothing is left; a signal handler can remove it too.
 */
export async function replaceAtomically(target: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempName(target)
  const untrack = trackTemp(tmp)
  try {
    // The directory usually exists (the site creates and checks its own): make it only when missing,
    // so the hot path of thousands of small blobs costs no mkdir each. (Another write may have
    // made it meanwhile: the second attempt then simply succeeds.)
    await fill(tmp).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
      await ensureDir(path.dirname(target))
      await fill(tmp)
    })
    renameSync(tmp, target)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  } finally {
    untrack()
  }
}

/**
 * Write bytes to `file` atomically, world-readable, through replaceAtomically. The bytes are
 * written on the spot (open, write, close: microseconds each, where thread-pool round trips cost
 * tens; thousands of small blobs and documents are written this way).
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await replaceAtomically(file, async (tmp) => writeNewSync(tmp, bytes))
}

/** Create `file` (it must not exist) holding `bytes`, mode 0644. */
function writeNewSync(file: string, bytes: Uint8Array): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE)
  try {
    for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off, bytes.byteLength - off)
    if (umaskClearsFileMode) fchmodSync(fd, FILE_MODE)
  } finally {
    closeSync(fd)
  }
}

/** Make `link` a hard link to `existing`, atomically replacing whatever was there. */
export async function linkAtomic(existing: string, link: string): Promise<void> {
  await replaceAtomically(link, (tmp) => fs.link(existing, tmp))
}

/**
 * Open a file for reading only if it is a regular file: never through a symlink, never blocking
 * on a FIFO (BLOB_NOT_REGULAR otherwise). Returns the handle and the file's size.
 */
export async function openRegular(file: string): Promise<{ fh: FileHandle; size: number }> {
  const fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close()
    throw err
  })
  if (!st.isFile()) {
    await fh.close()
    throw new OcisiteError('BLOB_NOT_REGULAR', `${file}: not a regular file`, { file })
  }
  return { fh, size: st.size }
}

/** Read exactly `size` bytes of a small file (never through a symlink); `mismatch` makes the error for a file that is shorter (its size) or longer. */
export function readSmall(file: string, size: number, mismatch: (actual: number | 'longer') => Error): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    // One byte more than expected is asked for: a regular file reads short only at its end, so a
    // read that stops at `size` shows the file is exactly that long without a second call.
    const bytes = Buffer.allocUnsafe(size + 1)
    let n = 0
    for (;;) {
      const want = size + 1 - n
      const r = readSync(fd, bytes, n, want, n)
      n += r
      if (r === 0 || r < want || n > size) break
    }
    if (n !== size) throw mismatch(n > size ? 'longer' : n)
    return bytes.subarray(0, size)
  } finally {
    closeSync(fd)
  }
}

/**
 * What identifies a file's content without reading it, as git's index does: device, inode,
 * size, mtime and ctime (nanoseconds), as one short string. Kept instead of the stat itself, so
 * a plan of a million blobs holds a million short strings, not a million stat objects.
 */
export type FileStamp = string

export function stampOf(st: BigIntStats): FileStamp {
  return `${st.dev} ${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`
}

/** A file's stamp now: '' when there is none (missing, or a parent is not a directory). */
export function stampAt(file: string): FileStamp {
  const st = lstatOrUndefined(file)
  return st ? stampOf(st) : ''
}

/**
 * A stamp too recent to vouch for a file: kernel timestamps tick coarsely (a few ms), so a
 * change within the last 100 ms could come again unseen with the same stamp (git's "racily
 * clean" rule). The change time is the stamp's last field.
 */
export function isRacy(stamp: FileStamp, now = Date.now()): boolean {
  return stamp !== '' && BigInt(stamp.slice(stamp.lastIndexOf(' ') + 1)) >= (BigInt(now) - 100n) * 1_000_000n
}

/** A file's lstat (bigint), or undefined when there is none to be had (missing, or a parent is not a directory). */
export function lstatOrUndefined(file: string): BigIntStats | undefined {
  try {
    return lstatSync(file, { bigint: true, throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

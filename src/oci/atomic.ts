import { randomBytes } from 'node:crypto'
import { promises as fs, rmSync } from 'node:fs'
import path from 'node:path'

/** Published files are world-readable whatever the input's modes (umoci writes 0600). */
export const FILE_MODE = 0o644
export const DIR_MODE = 0o755

/** A temporary name beside `target`, in ocisite's own temporary-file namespace. */
export function tempName(target: string): string {
  return path.join(path.dirname(target), `.ocisite-tmp-${randomBytes(6).toString('hex')}-${path.basename(target)}`)
}

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

/** Write bytes to `file` through a temporary file and a rename, so readers never see half a file. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await ensureDir(path.dirname(file))
  const tmp = tempName(file)
  liveTemps.add(tmp)
  try {
    await fs.writeFile(tmp, bytes, { mode: FILE_MODE, flag: 'wx' })
    await fs.chmod(tmp, FILE_MODE)
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  } finally {
    liveTemps.delete(tmp)
  }
}

/** Make `link` a hard link to `existing`, atomically replacing whatever was there. */
export async function linkAtomic(existing: string, link: string): Promise<void> {
  await ensureDir(path.dirname(link))
  const tmp = tempName(link)
  liveTemps.add(tmp)
  try {
    await fs.link(existing, tmp)
    await fs.rename(tmp, link)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  } finally {
    liveTemps.delete(tmp)
  }
}

/** True when `file` is a regular file of exactly `size` bytes. */
export async function hasFileOfSize(file: string, size: number): Promise<boolean> {
  const st = await fs.lstat(file).catch(() => undefined)
  return !!st && st.isFile() && st.size === size
}

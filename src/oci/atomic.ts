import { randomBytes } from 'node:crypto'
import { createWriteStream, promises as fs, rmSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import { OcisiteError } from '../errors.js'
import { createDigester, type Digest } from './digest.js'

/** Published files are world-readable whatever the input's modes (umoci writes 0600). */
export const FILE_MODE = 0o644
export const DIR_MODE = 0o755

function tempName(target: string): string {
  return path.join(path.dirname(target), `.ocisite-tmp-${randomBytes(6).toString('hex')}-${path.basename(target)}`)
}

export function isTempName(name: string): boolean {
  return name.startsWith('.ocisite-tmp-')
}

/** Temporary files being written right now, so a signal handler can remove them before exiting. */
const liveTemps = new Set<string>()

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

/** What a verified write expects, and how to name the source in errors. */
export interface Expected {
  digest: Digest
  size: number
  label: string
}

/**
 * Stream `source` into `file` while hashing it; rename into place only if the size and digest
 * match. Memory stays flat; on any failure the temporary file is removed and nothing is left.
 * `onBytes` reports progress as chunks are written.
 */
export async function writeVerified(source: AsyncIterable<Uint8Array>, file: string, expected: Expected, onBytes?: (n: number) => void): Promise<void> {
  await ensureDir(path.dirname(file))
  const tmp = tempName(file)
  liveTemps.add(tmp)
  const hash = createDigester(expected.digest.algorithm)
  const out = createWriteStream(tmp, { mode: FILE_MODE, flags: 'wx' })
  // A write still queued when the stream is destroyed fails later; that is reported by the
  // error that caused the destroy, so keep it from becoming an uncaught 'error' event.
  let writeError: Error | undefined
  out.on('error', (err) => (writeError ??= err))
  let size = 0
  try {
    await once(out, 'open')
    for await (const chunk of source) {
      size += chunk.byteLength
      if (size > expected.size) {
        throw new OcisiteError('SIZE_MISMATCH', `${expected.label}: blob ${expected.digest.value} is longer than the ${expected.size} bytes its descriptor says`, { digest: expected.digest.value })
      }
      hash.update(chunk)
      if (!out.write(chunk)) await once(out, 'drain')
      onBytes?.(chunk.byteLength)
    }
    out.end()
    await once(out, 'finish')
    if (writeError) throw writeError
    if (size !== expected.size) {
      throw new OcisiteError('SIZE_MISMATCH', `${expected.label}: blob ${expected.digest.value} is ${size} bytes, but its descriptor says ${expected.size}`, { digest: expected.digest.value })
    }
    const actual = `${expected.digest.algorithm}:${hash.digest('hex')}`
    if (actual !== expected.digest.value) {
      throw new OcisiteError('DIGEST_MISMATCH', `${expected.label}: digest mismatch: blob ${expected.digest.value} has digest ${actual}`, { digest: expected.digest.value })
    }
    await fs.chmod(tmp, FILE_MODE)
    await fs.rename(tmp, file)
  } catch (err) {
    out.destroy()
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

import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'

/**
 * ocisite's private caches in `.ocisite/` (the verify cache and the memo of the last build):
 * device and inode numbers and times, so they differ between copies of one site.
 */
export const MACHINE_STATE_FILES = ['verified.json', 'build.json']
const isMachineState = (rel: string) => MACHINE_STATE_FILES.some((f) => `/${rel}`.endsWith(`/.ocisite/${f}`))

/**
 * A snapshot of a directory: relative path → sha256 of contents and mode, to compare trees.
 * Symlinks are recorded by target (never followed), other non-regular files by kind. The private
 * caches are left out: they are not published, and they name inodes.
 */
export async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name)
      const rel = path.relative(root, p)
      if (isMachineState(rel)) continue
      if (e.isDirectory()) {
        out.set(`${rel}/`, 'dir')
        await walk(p)
      } else if (e.isSymbolicLink()) out.set(rel, `link -> ${await fs.readlink(p)}`)
      else if (!e.isFile()) out.set(rel, 'special')
      else {
        const st = await fs.lstat(p)
        out.set(rel, `${createHash('sha256').update(await fs.readFile(p)).digest('hex')} ${(st.mode & 0o777).toString(8)}`)
      }
    }
  }
  await walk(root)
  return out
}

/**
 * Everything in a directory exactly as it stands, to show that nothing touched it: the bytes of
 * every file (ocisite's private caches included) and every entry's inode, mode, modification
 * and change times. A file rewritten with the same bytes differs, and so does a directory
 * something was made in and removed from again (a lock, a temporary file).
 */
export async function exactSnapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const identity = async (p: string) => {
    const st = await fs.lstat(p, { bigint: true })
    return `ino ${st.ino} mode ${st.mode.toString(8)} mtime ${st.mtimeNs} ctime ${st.ctimeNs}`
  }
  const walk = async (dir: string): Promise<void> => {
    out.set(`${path.relative(root, dir)}/`, await identity(dir))
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      const rel = path.relative(root, p)
      if (e.isDirectory()) await walk(p)
      else if (e.isSymbolicLink()) out.set(rel, `link -> ${await fs.readlink(p)} ${await identity(p)}`)
      else if (!e.isFile()) out.set(rel, `special ${await identity(p)}`)
      else out.set(rel, `${createHash('sha256').update(await fs.readFile(p)).digest('hex')} ${await identity(p)}`)
    }
  }
  await walk(root)
  return out
}

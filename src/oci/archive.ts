import path from 'node:path'
import * as tar from 'tar'
import { OcisiteError } from '../errors.js'

/** Why a tar entry is unsafe to extract, or undefined when it is fine. */
export function unsafeEntryReason(entryPath: string, type: string, linkpath: string | undefined): string | undefined {
  const climbs = (p: string) => path.posix.isAbsolute(p) || p.split(/[\\/]+/).includes('..')
  if (climbs(entryPath)) return `entry "${entryPath}" escapes the archive (absolute path or "..")`
  if (type === 'SymbolicLink') return `entry "${entryPath}" is a symlink (to "${linkpath ?? ''}"); a layout holds only regular files`
  if (type === 'Link') {
    if (!linkpath || climbs(linkpath)) return `entry "${entryPath}" is a hard link out of the archive (to "${linkpath ?? ''}")`
    return undefined
  }
  if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile' && type !== 'Directory' && !type.endsWith('Header')) {
    return `entry "${entryPath}" is a ${type}, not a regular file or directory`
  }
  return undefined
}

/**
 * Extract an OCI archive (tar, optionally gzip-compressed) into `dest`, refusing entries that
 * climb out with `..`, absolute names, symlinks, links out of the archive and device files.
 */
export async function extractArchive(file: string, dest: string): Promise<void> {
  let unsafe: string | undefined
  try {
    await tar.x({
      file,
      cwd: dest,
      strict: true,
      preserveOwner: false,
      filter: (entryPath, entry) => {
        const e = entry as { type?: string; linkpath?: string }
        const reason = unsafeEntryReason(entryPath, e.type ?? 'File', e.linkpath)
        if (reason && !unsafe) unsafe = reason
        return !reason && !unsafe
      },
    })
  } catch (err) {
    if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
    throw new OcisiteError('LAYOUT_INVALID', `${file}: cannot read archive (${(err as Error).message})`, { file }, { cause: err })
  }
  if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
}

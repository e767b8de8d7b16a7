import { createReadStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import * as tar from 'tar'
import { OcisiteError } from '../errors.js'

/** The names an OCI layout owns: a symlink there is refused even when it points inside the archive. */
const LAYOUT_NAMES = /^(?:oci-layout|index\.json|blobs)(?:\/|$)/

/** Most symlinks one archive may hold (docker and podman write one per layer). */
const MAX_LINKS = 100_000

/** An entry's name as a plain relative path: `./a/b/` is `a/b`. */
function memberName(entryPath: string): string {
  return path.posix.normalize(entryPath.replace(/\\/g, '/')).replace(/\/+$/, '')
}

/** Where a symlink entry leads, as a member name inside the archive, or undefined when it leads out. */
function linkTarget(entryPath: string, linkpath: string): string | undefined {
  const link = linkpath.replace(/\\/g, '/')
  if (link === '' || path.posix.isAbsolute(link)) return undefined
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(memberName(entryPath)), link)).replace(/\/+$/, '')
  return target === '..' || target.startsWith('../') ? undefined : target
}

/** Why a tar entry is unsafe to extract, or undefined when it is fine. */
export function unsafeEntryReason(entryPath: string, type: string, linkpath: string | undefined): string | undefined {
  const climbs = (p: string) => path.posix.isAbsolute(p) || p.split(/[\\/]+/).includes('..')
  if (climbs(entryPath)) return `entry "${entryPath}" escapes the archive (absolute path or "..")`
  if (type === 'SymbolicLink') {
    if (linkpath === undefined || linkTarget(entryPath, linkpath) === undefined) return `entry "${entryPath}" is a symlink out of the archive (to "${linkpath ?? ''}")`
    if (LAYOUT_NAMES.test(memberName(entryPath))) return `entry "${entryPath}" is a symlink (to "${linkpath}"); a layout holds only regular files`
    return undefined
  }
  if (type === 'Link') {
    if (!linkpath || climbs(linkpath)) return `entry "${entryPath}" is a hard link out of the archive (to "${linkpath ?? ''}")`
    return undefined
  }
  if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile' && type !== 'Directory' && !type.endsWith('Header')) {
    return `entry "${entryPath}" is a ${type}, not a regular file or directory`
  }
  return undefined
}

/** Small reads keep inflation bounded: a 64 KiB gzip chunk can only grow so far before tar drains it. */
const READ_CHUNK = 64 * 1024

async function isGzip(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r')
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0)
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b
  } finally {
    await fh.close()
  }
}

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

/** What extraction leaves besides the files: the symlinks it recorded instead of creating. */
export interface ExtractedArchive {
  /**
   * Each symlink that stays inside the archive, by member name, with the member name it leads to.
   * None is created on disk: a docker archive's reader follows them (`<id>/layer.tar` →
   * `../<digest>.tar`); anything else ignores them.
   */
  links: ReadonlyMap<string, string>
}

/**
 * Extract an archive (tar, optionally gzip-compressed) into `dest` in flat memory, refusing
 * entries that climb out with `..`, absolute names, symlinks that lead out of the archive or sit
 * among a layout's own files, links out of the archive, device files, and more than `maxSize`
 * bytes of uncompressed tar stream. Symlinks that stay inside are recorded, not created.
 */
export async function extractArchive(file: string, dest: string, maxSize: number): Promise<ExtractedArchive> {
  let unsafe: string | undefined
  let tooLarge = false
  const links = new Map<string, string>()
  // Whether to write an entry: a symlink that stays inside is only recorded; a later entry of the same name replaces it.
  const accept = (entryPath: string, type: string, linkpath: string | undefined): boolean => {
    const reason = unsafeEntryReason(entryPath, type, linkpath) ?? (type === 'SymbolicLink' && links.size >= MAX_LINKS ? `holds more than ${MAX_LINKS} symlinks` : undefined)
    if (reason && !unsafe) unsafe = reason
    if (unsafe) return false
    const name = memberName(entryPath)
    links.delete(name)
    if (type !== 'SymbolicLink') return true
    links.set(name, linkTarget(entryPath, linkpath!)!)
    return false
  }
  try {
    const gzip = await isGzip(file)
    await pipeline([
      createReadStream(file, { highWaterMark: READ_CHUNK }),
      ...(gzip ? [createGunzip({ chunkSize: READ_CHUNK })] : []),
      byteLimit(maxSize, () => (tooLarge = true)),
      tar.x({
        cwd: dest,
        strict: true,
        preserveOwner: false,
        filter: (entryPath, entry) => {
          const e = entry as { type?: string; linkpath?: string }
          return accept(entryPath, e.type ?? 'File', e.linkpath)
        },
      }),
    ])
  } catch (err) {
    if (tooLarge) throw new OcisiteError('TOO_LARGE', `${file}: holds more than ${maxSize} bytes uncompressed (the --max-archive-size limit); raise the limit if it is genuine`, { file })
    if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
    throw new OcisiteError('LAYOUT_INVALID', `${file}: cannot read archive (${(err as Error).message})`, { file }, { cause: err })
  }
  if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
  return { links }
}

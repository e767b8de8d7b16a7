import { createReadStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
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
function byteLimit(limit: number, onExceeded: () => void): Transform {
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

/**
 * Extract an OCI archive (tar, optionally gzip-compressed) into `dest` in flat memory, refusing
 * entries that climb out with `..`, absolute names, symlinks, links out of the archive, device
 * files, and more than `maxSize` bytes of uncompressed tar stream.
 */
export async function extractArchive(file: string, dest: string, maxSize: number): Promise<void> {
  let unsafe: string | undefined
  let tooLarge = false
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
          const reason = unsafeEntryReason(entryPath, e.type ?? 'File', e.linkpath)
          if (reason && !unsafe) unsafe = reason
          return !reason && !unsafe
        },
      }),
    ])
  } catch (err) {
    if (tooLarge) throw new OcisiteError('TOO_LARGE', `${file}: holds more than ${maxSize} bytes uncompressed (the --max-archive-size limit); raise the limit if it is genuine`, { file })
    if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
    throw new OcisiteError('LAYOUT_INVALID', `${file}: cannot read archive (${(err as Error).message})`, { file }, { cause: err })
  }
  if (unsafe) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${unsafe}`, { file })
}

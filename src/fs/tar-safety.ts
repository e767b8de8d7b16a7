// The one tar-safety module: the entry rules (tar-rules.ts) and the streaming extractor
// (tar-stream.ts) serve both input archives (`build`, `add`) and `get`'s tar layers.
import { createReadStream, promises as fs } from 'node:fs'
import { OcisiteError } from '../errors.js'
import { INPUT_ARCHIVE } from './tar-rules.js'
import { extractTarStream, TAR_CHUNK } from './tar-stream.js'

export { ARTIFACT_FILES, INPUT_ARCHIVE, MAX_ENTRIES, plainName, unsafeEntryReason, type TarPolicy } from './tar-rules.js'
export { byteLimit, extractTarStream, type TarOutcome, type TarStreamOptions } from './tar-stream.js'

async function isGzip(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r')
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0)
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b
  } finally {
    await fh.close()
  }
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
 * Extract an input archive (tar, optionally gzip-compressed) into `dest` in flat memory, under
 * the entry rules (`INPUT_ARCHIVE`: symlinks that stay inside are recorded, not created, and
 * none may sit among a layout's own files), and at most `maxSize` bytes of uncompressed tar.
 */
export async function extractArchive(file: string, dest: string, maxSize: number): Promise<ExtractedArchive> {
  const gzip = await isGzip(file)
  const source = createReadStream(file, { highWaterMark: TAR_CHUNK })
  const outcome = await extractTarStream(source, dest, { policy: INPUT_ARCHIVE, gzip, maxSize })
  if (outcome.tooLarge) throw new OcisiteError('TOO_LARGE', `${file}: holds more than ${maxSize} bytes uncompressed (the --max-archive-size limit); raise the limit if it is genuine`, { file })
  if (outcome.refused) throw new OcisiteError('ARCHIVE_UNSAFE', `${file}: ${outcome.refused}`, { file })
  if (outcome.unreadable !== undefined) {
    const err = outcome.unreadable
    throw new OcisiteError('LAYOUT_INVALID', `${file}: cannot read archive (${(err as Error).message})`, { file }, { cause: err })
  }
  return { links: outcome.links }
}

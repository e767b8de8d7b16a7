import { createReadStream } from 'node:fs'
import { OcisiteError } from '../errors.js'
import { createDigester } from '../oci/digest.js'
import { checkDigest, type Expected } from '../content/ingest/verify.js'
import { ARTIFACT_FILES, extractTarStream, plainName } from '../fs/tar-safety.js'

/** Layers are read a chunk at a time: flat memory whatever their size. */
const READ_CHUNK = 256 * 1024

/** An artifact that would write outside its directory, or something no file tree should hold. */
function unsafe(label: string, why: string): OcisiteError {
  return new OcisiteError('ARTIFACT_UNSAFE', `${label}: ${why}; nothing was written`, { layer: label })
}

/** A relative path inside the target, or why not: no absolute paths, no `..`, no empty names. */
export function safeRelative(name: string, label: string, what = 'entry'): string {
  const plain = plainName(name, what, 'the directory')
  if ('reason' in plain) throw unsafe(label, plain.reason)
  return plain.name
}

/**
 * Extract a tar layer (gzip or not) from the file `file` into `root`, a staging directory, as a
 * stream: its bytes are counted and hashed as they are read, and each entry is checked by the
 * tar-safety rules (`ARTIFACT_FILES`: symlinks that stay inside are made) before it is written.
 * Bytes that do not match the descriptor win over whatever they held.
 */
export async function extractTar(file: string, gzip: boolean, root: string, expected: Expected): Promise<void> {
  const label = expected.label
  const hash = createDigester(expected.digest.algorithm)
  let size = 0
  let whole = false
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) {
      const bytes = chunk as Buffer
      size += bytes.byteLength
      hash.update(bytes)
      yield bytes
    }
    whole = true
  }
  const outcome = await extractTarStream(counted(), root, { policy: ARTIFACT_FILES, gzip })
  if (whole) checkDigest(expected, size, hash.digest('hex'))
  if (outcome.refused) throw unsafe(label, outcome.refused)
  if (outcome.unreadable !== undefined) {
    const err = outcome.unreadable
    throw new OcisiteError('ARTIFACT_UNSAFE', `${label}: not a readable tar archive (${(err as Error).message}); nothing was written`, { layer: label }, { cause: err })
  }
}

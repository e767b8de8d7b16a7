import { createReadStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import * as tar from 'tar'
import { OcisiteError } from '../errors.js'
import { createDigester } from '../oci/digest.js'
import { checkDigest, type Expected } from '../content/ingest/verify.js'

/** An artifact that would write outside its directory, or something no file tree should hold. */
function unsafe(label: string, why: string): OcisiteError {
  return new OcisiteError('ARTIFACT_UNSAFE', `${label}: ${why}; nothing was written`, { layer: label })
}

/** A relative path inside the target, or why not: no absolute paths, no `..`, no empty names. */
export function safeRelative(name: string, label: string, what = 'entry'): string {
  if (name.includes('\0') || name.includes('\\')) throw unsafe(label, `${what} "${name}" has a NUL or backslash`)
  if (path.posix.isAbsolute(name)) throw unsafe(label, `${what} "${name}" is an absolute path`)
  const parts = name.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p) => p === '..')) throw unsafe(label, `${what} "${name}" climbs out with ".."`)
  if (parts.length === 0) throw unsafe(label, `${what} "${name}" names no file`)
  return parts.join('/')
}

/**
 * Extract a tar (gzip or not) into `root`, refusing anything that could reach outside it: `..`
 * and absolute paths, symlinks whose target leaves the tree, writes through a symlink, hard
 * links to anything but a file already extracted, and device nodes or FIFOs. Files keep their
 * execute bit (0755) or are 0644.
 */
export async function extractTar(file: string, gzip: boolean, root: string, expected: Expected): Promise<void> {
  const label = expected.label
  const symlinks = new Set<string>()
  const files = new Set<string>()
  const throughLink = (rel: string) => {
    const parts = rel.split('/')
    for (let i = 1; i <= parts.length; i++) if (symlinks.has(parts.slice(0, i).join('/'))) return true
    return false
  }
  const pending: Array<() => Promise<void>> = []
  let failure: OcisiteError | undefined
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (entry) => {
      if (failure) return entry.resume()
      try {
        const rel = safeRelative(entry.path, label)
        const target = path.join(root, ...rel.split('/'))
        if (throughLink(rel)) throw unsafe(label, `entry "${entry.path}" would be written through a symlink`)
        switch (entry.type) {
          case 'Directory':
            pending.push(() => fs.mkdir(target, { recursive: true, mode: 0o755 }).then(() => undefined))
            entry.resume()
            break
          case 'File':
          case 'OldFile':
          case 'ContiguousFile': {
            if (files.has(rel)) throw unsafe(label, `entry "${entry.path}" appears twice`)
            files.add(rel)
            const chunks: Buffer[] = []
            entry.on('data', (c: Buffer) => chunks.push(c))
            const mode = (entry.mode ?? 0o644) & 0o100 ? 0o755 : 0o644
            pending.push(async () => {
              await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o755 })
              await fs.writeFile(target, Buffer.concat(chunks), { mode, flag: 'wx' })
              await fs.chmod(target, mode)
            })
            break
          }
          case 'SymbolicLink': {
            const link = entry.linkpath ?? ''
            if (path.posix.isAbsolute(link)) throw unsafe(label, `symlink "${entry.path}" points at the absolute path ${link}`)
            const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), link))
            if (resolved === '..' || resolved.startsWith('../')) throw unsafe(label, `symlink "${entry.path}" points out of the directory (${link})`)
            symlinks.add(rel)
            pending.push(async () => {
              await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o755 })
              await fs.symlink(link, target)
            })
            entry.resume()
            break
          }
          case 'Link': {
            const linked = safeRelative(entry.linkpath ?? '', label, 'hard link target')
            if (!files.has(linked) || throughLink(linked)) throw unsafe(label, `hard link "${entry.path}" points at ${entry.linkpath}, which is not a file extracted before it`)
            files.add(rel)
            pending.push(async () => {
              await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o755 })
              await fs.link(path.join(root, ...linked.split('/')), target)
            })
            entry.resume()
            break
          }
          case 'CharacterDevice':
          case 'BlockDevice':
          case 'FIFO':
            throw unsafe(label, `entry "${entry.path}" is a ${entry.type === 'FIFO' ? 'FIFO' : 'device node'}`)
          default:
            // Pax and GNU metadata records are consumed by the parser; anything else is skipped.
            entry.resume()
        }
      } catch (err) {
        failure = err instanceof OcisiteError ? err : unsafe(label, (err as Error).message)
        entry.resume()
      }
    },
  })
  // The layer is hashed as it is read, once: its bytes are checked before anything is written.
  const hash = createDigester(expected.digest.algorithm)
  let size = 0
  // (A second 'data' listener sees every chunk the pipeline reads; no encoding is set, so they are Buffers.)
  const source = createReadStream(file).on('data', (chunk: string | Buffer) => {
    hash.update(chunk)
    size += Buffer.byteLength(chunk)
  })
  let parseError: unknown
  try {
    await (gzip ? pipeline(source, createGunzip(), parser) : pipeline(source, parser))
  } catch (err) {
    parseError = err
  }
  if (!parseError) checkDigest(expected, size, hash.digest('hex'))
  if (failure) throw failure
  if (parseError) throw unsafe(label, `not a readable tar archive (${(parseError as Error).message})`)
  // Every entry was checked before any is written.
  for (const write of pending) await write()
}

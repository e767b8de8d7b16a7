import { promises as fs } from 'node:fs'
import path from 'node:path'
import picomatch from 'picomatch'
import { OcisiteError } from '../errors.js'
import { writeFileAtomic } from '../fs/atomic.js'
import { parseDescriptor, REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseImageName } from '../oci/image-name.js'
import { parseJsonObject } from '../oci/json.js'
import { resolve, type ResolveOptions } from './resolve.js'
import { rootChecker, type RootCheck, type TrustOptions } from './trust.js'

/** One name pinned to the descriptor it resolved to. */
export interface Pin {
  name: string
  digest: string
  mediaType: string
  size: number
}

/** A lock file: every name pinned to the descriptor it resolved to. */
export interface LockFile {
  lockVersion: 1
  pins: Pin[]
}

export interface LockOptions extends ResolveOptions, TrustOptions {
  /** Where to write the lock file. Pins already in it stay, unless `prune`. */
  out: string
  /** Drop the pins this run did not resolve (default false: they are kept as they are). */
  prune?: boolean
}

/** The lock file as written, and what this run did to each pin (names, sorted). */
export interface LockResult extends LockFile {
  /** The lock file's path. */
  file: string
  /** Whether the file's bytes changed (an unchanged file is not rewritten). */
  written: boolean
  changes: {
    /** Resolved in this run: new, moved to another digest, or the same as before. */
    added: string[]
    updated: Array<{ name: string; from: string; to: string }>
    unchanged: string[]
    /** Pins of other names, left as they were. */
    kept: string[]
    /** Pins of other names, removed by `prune`. */
    dropped: string[]
  }
}

const PIN_FIELDS = ['name', 'digest', 'mediaType', 'size']
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** The canonical key of a pinned name: `host/path#tag`. */
function pinKey(text: string): string {
  const name = parseImageName(text)
  return `${name.host}/${name.path}#${name.fragment}`
}

/** The canonical key of a pinned name, or undefined when it is not a valid `host/path#tag`. */
function canonicalPin(text: string): string | undefined {
  try {
    const key = pinKey(text)
    return key.endsWith('#') ? undefined : key
  } catch (err) {
    if (err instanceof OcisiteError && err.code === 'NAME_INVALID') return undefined
    throw err
  }
}

/**
 * Read and check a lock file; undefined when there is none. Anything that is not exactly what
 * `lock` writes (a corrupt file, another tool's file, a pin with fields `lock` would drop) is
 * refused, naming the file, so that rewriting it can lose nothing.
 */
export async function readLockFile(file: string): Promise<{ lock: LockFile; bytes: Buffer } | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new OcisiteError('CONFIG_INVALID', `${file} is a directory, not a lock file`, { file }, { cause: err })
    throw err
  }
  const foreign = (why: string, cause?: unknown) => new OcisiteError('CONFIG_INVALID', `${file}: not an ocisite lock file (${why}); move it away or name another file`, { file }, { cause })
  let doc: Record<string, unknown>
  try {
    doc = parseJsonObject(bytes, file)
  } catch (err) {
    if (!(err instanceof OcisiteError)) throw err
    // One line: V8's JSON messages quote the text, newlines and all.
    throw foreign(err.message.replace(`${file}: `, '').replace(/\s+/g, ' ').trim(), err)
  }
  if (doc.lockVersion !== 1) throw foreign(`"lockVersion" is ${JSON.stringify(doc.lockVersion) ?? 'missing'}, not 1`)
  if (!Array.isArray(doc.pins)) throw foreign('no "pins" list')
  const extra = Object.keys(doc).find((k) => k !== 'lockVersion' && k !== 'pins')
  if (extra !== undefined) throw foreign(`unknown field "${extra}"`)
  const seen = new Set<string>()
  const pins = doc.pins.map((raw: unknown, i): Pin => {
    const where = `${file} pins[${i}]`
    const p = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
    const unknown = Object.keys(p).find((k) => !PIN_FIELDS.includes(k))
    if (unknown !== undefined) throw foreign(`pins[${i}] has an unknown field "${unknown}"`)
    if (typeof p.name !== 'string' || typeof p.mediaType !== 'string') throw foreign(`pins[${i}] has no "name" or "mediaType"`)
    const key = canonicalPin(p.name)
    if (key !== p.name) throw foreign(`pins[${i}]: "${p.name}" is not a name of the form host/path#tag`)
    if (seen.has(key)) throw foreign(`${key} is pinned twice`)
    seen.add(key)
    const d = parseDescriptor(p, where)
    return { name: key, digest: d.digest, mediaType: d.mediaType, size: d.size }
  })
  return { lock: { lockVersion: 1, pins }, bytes }
}

/** The pins `names` resolve to now. A tag may be a glob: every tag of the image matching it. */
async function resolvePins(names: string[], options: ResolveOptions, checkRoots: RootCheck | undefined): Promise<Map<string, Pin>> {
  const pins = new Map<string, Pin>()
  for (const text of names) {
    const name = parseImageName(text)
    const glob = /[*?[\]{}]/.test(name.fragment)
    const resolved = await resolve(glob ? text.slice(0, text.indexOf('#')) : text, options)
    const match = glob ? picomatch(name.fragment, { dot: true }) : undefined
    let found = 0
    for (const roots of Object.values(resolved)) {
      for (const r of roots) {
        const tag = r.descriptor.annotations?.[REF_NAME] ?? name.fragment
        if (match && !match(tag)) continue
        await checkRoots?.({ ...name, fragment: tag }, [r])
        const key = `${name.host}/${name.path}#${tag}`
        pins.set(key, { name: key, digest: r.descriptor.digest, mediaType: r.descriptor.mediaType, size: r.descriptor.size })
        found++
      }
    }
    if (found === 0) throw new OcisiteError('NOT_FOUND', `${text}: no tag matches`, { name: text })
  }
  return pins
}

/**
 * Pin names to digests in the lock file `out`. A name's tag may be a glob
 * (`example.com/app#v*`): every tag of the image matching it is pinned. The names given are
 * added or updated; every other pin in the file stays as it is, unless `prune`. The file is
 * read and checked before anything is resolved, and replaced atomically.
 */
export async function lock(names: string[], options: LockOptions): Promise<LockResult> {
  if (names.length === 0) throw new OcisiteError('CONFIG_INVALID', 'lock: name what to pin (NAME#TAG, or NAME#GLOB)')
  const given = path.resolve(options.out)
  // A lock file reached through a symlink is updated where it lives; the link stays.
  const file = await fs.realpath(given).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return given
    throw err
  })
  const existing = await readLockFile(file)
  const fresh = await resolvePins(names, options, await rootChecker(options))
  const before = new Map((existing?.lock.pins ?? []).map((p) => [p.name, p]))
  const merged = new Map(options.prune ? [] : before)
  for (const [name, pin] of fresh) merged.set(name, pin)
  const changes: LockResult['changes'] = { added: [], updated: [], unchanged: [], kept: [], dropped: [] }
  for (const name of [...new Set([...before.keys(), ...fresh.keys()])].sort()) {
    const old = before.get(name)
    const now = fresh.get(name)
    if (!now) (options.prune ? changes.dropped : changes.kept).push(name)
    else if (!old) changes.added.push(name)
    else if (old.digest !== now.digest || old.mediaType !== now.mediaType || old.size !== now.size) changes.updated.push({ name, from: old.digest, to: now.digest })
    else changes.unchanged.push(name)
  }
  const lockFile: LockFile = { lockVersion: 1, pins: [...merged.values()].sort(byName) }
  const bytes = Buffer.from(`${JSON.stringify(lockFile, null, 2)}\n`)
  const written = !existing?.bytes.equals(bytes)
  if (written) await writeFileAtomic(file, bytes)
  return { ...lockFile, file, written, changes }
}

/** The pinned descriptor for a name, from a lock file. */
export async function pinFor(lockFile: string, nameText: string): Promise<Descriptor> {
  const read = await readLockFile(lockFile)
  if (!read) throw new OcisiteError('INPUT_NOT_FOUND', `--lock ${lockFile}: no such file`, { file: lockFile })
  const key = pinKey(nameText)
  const pin = read.lock.pins.find((p) => p.name === key)
  if (!pin) throw new OcisiteError('NOT_FOUND', `${key} is not pinned in ${lockFile}; add it with: ocisite lock ${key} --out ${lockFile}`, { name: key })
  return { mediaType: pin.mediaType, digest: pin.digest, size: pin.size }
}

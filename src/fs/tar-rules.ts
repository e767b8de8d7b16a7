import path from 'node:path'

/**
 * What an archive is extracted for. The entry rules are the same for every archive; they differ
 * only in what becomes of a symlink that stays inside.
 */
export interface TarPolicy {
  /**
   * `record`: the symlink is returned by name, never created (an input archive: a docker
   * archive's reader follows `<id>/layer.tar` → `../<digest>.tar`). `create`: it is made on disk
   * (`get` writes the artifact's files, links included).
   */
  symlinks: 'record' | 'create'
  /** Names no symlink may take, and why (a layout's own files in an input archive). */
  reserved?: { names: RegExp; why: string }
}

/** What to do with an entry that passed the rules. */
export type Verdict =
  | { kind: 'skip' }
  | { kind: 'dir'; name: string }
  | { kind: 'file'; name: string }
  | { kind: 'hardlink'; name: string; target: string }
  | { kind: 'symlink'; name: string; link: string; target: string }
  | { kind: 'refuse'; reason: string }

/** Most entries one archive may hold: the rules remember each name (a few hundred bytes each). */
export const MAX_ENTRIES = 1_000_000

/** Tar types that only carry metadata for the next entry (the parser consumes most of them). */
const isHeader = (type: string) => type.endsWith('Header')
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])

/** A name as plain parts: `./a//b/` is `a/b`; undefined when it is absolute, climbs with `..`, or holds a NUL or backslash. */
function plainParts(name: string): string[] | undefined {
  if (name.includes('\0') || name.includes('\\') || path.posix.isAbsolute(name)) return undefined
  const parts = name.split('/').filter((p) => p !== '' && p !== '.')
  return parts.includes('..') ? undefined : parts
}

/** Why a name is not a plain relative name, or undefined. */
function nameReason(name: string, what: string, within: string): string | undefined {
  if (name.includes('\0') || name.includes('\\')) return `${what} "${name}" has a NUL or backslash in its name`
  if (path.posix.isAbsolute(name)) return `${what} "${name}" is an absolute path and escapes ${within}`
  if (plainParts(name) === undefined) return `${what} "${name}" climbs out with ".." and escapes ${within}`
  return undefined
}

/**
 * A name as a plain relative path (`./a//b/` is `a/b`), or why not: absolute, `..`, a NUL or
 * backslash, or nothing at all. `what` and `within` name it in the reason (`entry`, `the archive`;
 * `title`, `the directory`).
 */
export function plainName(name: string, what = 'entry', within = 'the archive'): { name: string } | { reason: string } {
  const reason = nameReason(name, what, within)
  if (reason) return { reason }
  const parts = plainParts(name)!
  return parts.length === 0 ? { reason: `${what} "${name}" names no file` } : { name: parts.join('/') }
}

/**
 * Where a symlink at `name` (plain) leads, as a plain name, or why it is refused. Backslashes are
 * read as separators. `..` may only lead the target: after a name it could climb back out
 * through a symlink that the name is, or becomes later in the archive.
 */
function symlinkTarget(entryPath: string, name: string, linkpath: string | undefined): { target: string } | { reason: string } {
  const link = (linkpath ?? '').replace(/\\/g, '/')
  const out = `so it is a symlink out of the archive`
  if (link === '') return { reason: `symlink "${entryPath}" has an empty target, ${out}` }
  if (path.posix.isAbsolute(link)) return { reason: `symlink "${entryPath}" points at the absolute path ${link}, ${out}` }
  const parts = link.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p, i) => p === '..' && parts.slice(0, i).some((q) => q !== '..'))) {
    return { reason: `symlink "${entryPath}" points at "${linkpath}": ".." after a name could lead out of the archive through a symlink` }
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(name), ...parts))
  if (target === '..' || target.startsWith('../')) return { reason: `symlink "${entryPath}" points out of the directory (to "${linkpath}"), ${out}` }
  return { target: target === '.' ? '' : target }
}

/** Why an entry of this type is refused, or undefined for the types that are extracted. */
function typeReason(name: string, type: string): string | undefined {
  if (FILE_TYPES.has(type) || type === 'Directory' || type === 'SymbolicLink' || type === 'Link' || isHeader(type)) return undefined
  if (type === 'CharacterDevice' || type === 'BlockDevice') return `entry "${name}" is a device node (${type})`
  if (type === 'FIFO') return `entry "${name}" is a FIFO`
  return `entry "${name}" is a ${type}, not a regular file, directory or link`
}

/** The checks on one entry alone: its name, its type, and where a link leads. */
function checkAlone(entryPath: string, type: string, linkpath: string | undefined, policy: TarPolicy): Verdict {
  const refuse = (reason: string): Verdict => ({ kind: 'refuse', reason })
  // Metadata, and `./` (the archive's root directory, which names nothing), are skipped.
  if (isHeader(type) || (type === 'Directory' && plainParts(entryPath)?.length === 0)) return { kind: 'skip' }
  const named = plainName(entryPath)
  if ('reason' in named) return refuse(named.reason)
  const name = named.name
  const bad = typeReason(entryPath, type)
  if (bad) return refuse(bad)
  if (type === 'Directory') return { kind: 'dir', name }
  if (FILE_TYPES.has(type)) return { kind: 'file', name }
  if (type === 'Link') {
    const target = plainName(linkpath ?? '', 'target')
    if ('reason' in target) return refuse(`hard link "${entryPath}" points at "${linkpath ?? ''}", a hard link out of the archive`)
    return { kind: 'hardlink', name, target: target.name }
  }
  const led = symlinkTarget(entryPath, name, linkpath)
  if ('reason' in led) return refuse(led.reason)
  if (policy.reserved?.names.test(name)) return refuse(`entry "${entryPath}" is a symlink (to "${linkpath}"); ${policy.reserved.why}`)
  return { kind: 'symlink', name, link: (linkpath ?? '').replace(/\\/g, '/'), target: led.target }
}

/**
 * Why a tar entry is unsafe to extract on its own, or undefined when it is fine: an absolute
 * name or one that climbs with `..` (or holds a NUL or backslash), a symlink that leads out of
 * the archive (or sits on a reserved name), a hard link out of the archive, a device or FIFO.
 * The rules that depend on earlier entries are `EntryRules`'.
 */
export function unsafeEntryReason(entryPath: string, type: string, linkpath: string | undefined, policy: TarPolicy = INPUT_ARCHIVE): string | undefined {
  const verdict = checkAlone(entryPath, type, linkpath, policy)
  return verdict.kind === 'refuse' ? verdict.reason : undefined
}

/** An input archive: an OCI layout (or a docker archive) whose own names hold only regular files. */
export const INPUT_ARCHIVE: TarPolicy = {
  symlinks: 'record',
  reserved: { names: /^(?:oci-layout|index\.json|blobs)(?:\/|$)/, why: 'a layout holds only regular files' },
}

/** An artifact's files, written into a directory by `get`: symlinks that stay inside are made. */
export const ARTIFACT_FILES: TarPolicy = { symlinks: 'create' }

type Kind = 'dir' | 'file' | 'symlink'

/**
 * The rules for a whole archive, entry by entry in archive order: each entry alone
 * (`unsafeEntryReason`), then against the entries before it. Nothing is written through a
 * symlink, an entry never replaces an earlier one (a directory may repeat), and a hard link must
 * name a regular file extracted before it.
 */
export class EntryRules {
  private readonly kinds = new Map<string, Kind>()

  constructor(private readonly policy: TarPolicy) {}

  check(entryPath: string, type: string, linkpath: string | undefined): Verdict {
    const verdict = checkAlone(entryPath, type, linkpath, this.policy)
    if (verdict.kind === 'skip' || verdict.kind === 'refuse') return verdict
    if (this.kinds.size >= MAX_ENTRIES) return { kind: 'refuse', reason: `holds more than ${MAX_ENTRIES} entries` }
    const clash = this.placeReason(entryPath, verdict.name, verdict.kind === 'dir')
    if (clash) return { kind: 'refuse', reason: clash }
    if (verdict.kind === 'hardlink' && this.kinds.get(verdict.target) !== 'file') {
      return { kind: 'refuse', reason: `hard link "${entryPath}" points at "${linkpath}", which is not a file extracted before it` }
    }
    this.kinds.set(verdict.name, verdict.kind === 'dir' ? 'dir' : verdict.kind === 'symlink' ? 'symlink' : 'file')
    return verdict
  }

  /** Why `name` cannot be placed: a parent is a symlink or a file, or the name is taken. Marks the parents as directories. */
  private placeReason(entryPath: string, name: string, isDir: boolean): string | undefined {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      const kind = this.kinds.get(parent)
      if (kind === 'symlink') return `entry "${entryPath}" would be written through the symlink "${parent}"`
      if (kind === 'file') return `entry "${entryPath}" would be written under the file "${parent}"`
    }
    const taken = this.kinds.get(name)
    if (taken && !(isDir && taken === 'dir')) return `entry "${entryPath}" replaces an earlier ${taken === 'dir' ? 'directory' : taken} of the same name`
    for (let i = 1; i < parts.length; i++) this.kinds.set(parts.slice(0, i).join('/'), 'dir')
    return undefined
  }
}

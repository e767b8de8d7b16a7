import { randomBytes } from 'node:crypto'
import { promises as fs, readdirSync, renameSync, type Dirent } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import lockfile from 'proper-lockfile'
import { OcisiteError } from '../../errors.js'
import { isTempName, writeFileAtomic } from '../../fs/atomic.js'
import { canonicalBytes } from '../../oci/json.js'
import { pathOf, siteDirs } from '../map.js'
import type { SitePaths } from '../site-paths.js'
import { isMissing, unlessMissing, unlessMissingSync } from '../../fs/missing.js'

const OWNED = pathOf({ kind: 'state', name: 'owned' })

/**
 * One of ocisite's state files, parsed: undefined when it cannot be read (none yet), and `doc`
 * undefined when it is not JSON (the caller names what it should have been).
 */
async function readStateJson(file: string): Promise<{ doc: unknown } | undefined> {
  const bytes = await unlessMissing(fs.readFile(file))
  if (!bytes) return undefined
  try {
    return { doc: JSON.parse(bytes.toString('utf8')) }
  } catch (err) {
    if (err instanceof SyntaxError) return { doc: undefined }
    throw err
  }
}

/**
 * The record of the files ocisite wrote into a site (`.ocisite/owned.json`). Only recorded
 * files are ever deleted, so whatever else lives in `--out` is left alone. Before a build writes
 * anything it records old ∪ new, so a crash leaves a record that still covers every file on disk.
 */
export class OwnedRecord {
  private constructor(
    private readonly site: SitePaths,
    readonly files: Set<string>,
    /** The set the file on disk holds now (undefined: no file yet). */
    private written: Set<string> | undefined,
  ) {}

  static async load(site: SitePaths): Promise<OwnedRecord> {
    const state = await readStateJson(site.abs(OWNED))
    if (!state) return new OwnedRecord(site, new Set(), undefined)
    const files = (state.doc as { files?: unknown } | undefined)?.files
    if (!Array.isArray(files) || files.some((f) => typeof f !== 'string')) {
      throw new OcisiteError('STATE_INVALID', `${site.abs(OWNED)}: not a record of owned files; move it away and rebuild with --force`, { file: site.abs(OWNED) })
    }
    return new OwnedRecord(site, new Set(files as string[]), new Set(files as string[]))
  }

  async save(files: Iterable<string>): Promise<void> {
    const sorted = [...new Set(files)].sort()
    // What is on disk already (a no-op rebuild): nothing to write.
    if (this.written && sorted.length === this.written.size && sorted.every((f) => this.written!.has(f))) return
    await this.site.parentDir(OWNED)
    await writeFileAtomic(this.site.abs(OWNED), canonicalBytes({ files: sorted }))
    this.written = new Set(sorted)
  }
}

/**
 * When each blob still in the site stopped being referenced (`.ocisite/unreferenced.json`), so
 * `prune --grace` counts from that moment, not from a file time that copying may reset.
 */
export const UnreferencedBlobs = {
  async load(site: SitePaths): Promise<Map<string, number>> {
    const file = site.abs(pathOf({ kind: 'state', name: 'unreferenced' }))
    const state = await readStateJson(file)
    if (!state) return new Map()
    const blobs = (state.doc as { blobs?: unknown } | undefined)?.blobs
    if (typeof blobs !== 'object' || blobs === null || Object.values(blobs).some((v) => typeof v !== 'string' || Number.isNaN(Date.parse(v)))) {
      throw new OcisiteError('STATE_INVALID', `${file}: not a record of unreferenced blobs; move it away (prune then counts their grace from now)`, { file })
    }
    return new Map(Object.entries(blobs as Record<string, string>).map(([rel, since]) => [rel, Date.parse(since)]))
  },

  async save(site: SitePaths, since: Map<string, number>): Promise<void> {
    const file = site.abs(pathOf({ kind: 'state', name: 'unreferenced' }))
    const bytes = canonicalBytes({ blobs: Object.fromEntries([...since].sort(([a], [b]) => (a < b ? -1 : 1)).map(([rel, t]) => [rel, new Date(t).toISOString()])) })
    const current = await unlessMissing(fs.readFile(file))
    if (current?.equals(bytes)) return
    if (since.size === 0) {
      if (current) await fs.rm(file, { force: true })
      return
    }
    await writeFileAtomic(file, bytes)
  },

  /** After a write: these blobs are unreferenced now (each keeps the time it first became so). */
  async update(site: SitePaths, unreferenced: string[], now = Date.now()): Promise<void> {
    const before = await UnreferencedBlobs.load(site)
    await UnreferencedBlobs.save(site, new Map(unreferenced.map((rel) => [rel, before.get(rel) ?? now])))
  },
}

/** Temporary files a killed run left in ocisite's folders (their names are ours alone). */
export async function removeTempFiles(site: SitePaths): Promise<number> {
  let removed = 0
  const walk = async (rel: string): Promise<void> => {
    // Read on the spot: a site has a directory per shard and repository, and this runs on every write.
    // Gone, or not a directory: nothing of ours in it.
    const entries: Dirent[] = unlessMissingSync(() => readdirSync(site.abs(rel), { withFileTypes: true })) ?? []
    for (const e of entries) {
      const child = `${rel}/${e.name}`
      if (e.isDirectory()) await walk(child)
      else if (isTempName(e.name) && (e.isFile() || e.isSymbolicLink())) {
        await fs.rm(site.abs(child), { force: true })
        removed++
      }
    }
  }
  for (const dir of Object.values(siteDirs)) {
    const st = await unlessMissing(fs.lstat(site.abs(dir)))
    if (st?.isDirectory()) await walk(dir)
  }
  for (const e of await fs.readdir(site.root, { withFileTypes: true })) if (isTempName(e.name) && e.isFile()) await fs.rm(site.abs(e.name), { force: true })
  return removed
}

/**
 * Remove `rel`'s parent directories that are empty, up to the site root. Only directories
 * holding ocisite's files are ever passed here.
 */
export async function removeEmptyParents(site: SitePaths, rel: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1)
  while (parts.length > 0) {
    const dir = site.abs(parts.join('/'))
    const st = await unlessMissing(fs.lstat(dir))
    if (!st?.isDirectory()) return
    try {
      await fs.rmdir(dir)
    } catch (err) {
      // Not empty, or gone meanwhile: stop climbing. Anything else is a real fault.
      if (['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '') || isMissing(err)) return
      throw err
    }
    parts.pop()
  }
}

/** Options for taking a site's lock. */
export interface LockOptions {
  /** Wait for another writer (default) or fail at once. */
  wait: boolean
  onWait?: () => void
}

/** A held site lock: release it, and check it was never lost on the way. */
export interface SiteLock {
  release(): Promise<void>
  check(): Promise<void>
}

/** Who holds a lock: written into the lock directory once it is taken. */
interface LockOwner {
  pid: number
  host: string
  token: string
}

async function readOwner(lockDir: string): Promise<LockOwner | undefined> {
  // No owner file yet (a writer between taking the lock and naming itself), or a torn one.
  const text = await unlessMissing(fs.readFile(path.join(lockDir, 'owner.json'), 'utf8'))
  let doc: Partial<LockOwner>
  try {
    doc = JSON.parse(text ?? 'null') ?? {}
  } catch (err) {
    if (err instanceof SyntaxError) return undefined
    throw err
  }
  return typeof doc.pid === 'number' && typeof doc.host === 'string' && typeof doc.token === 'string' ? (doc as LockOwner) : undefined
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A lock whose holder is a dead process on this machine (killed with -9) is moved aside at once,
 * instead of waiting for it to go stale. The move is checked by the holder's token, so a lock
 * taken by someone else in the meantime is put back, never broken.
 */
async function breakDeadLock(lockDir: string): Promise<boolean> {
  const owner = await readOwner(lockDir)
  if (owner ? owner.host !== os.hostname() || isAlive(owner.pid) : !(await ownerlessTooLong(lockDir))) return false
  const grave = `${lockDir}.dead-${randomBytes(6).toString('hex')}`
  try {
    renameSync(lockDir, grave)
  } catch (err) {
    if (isMissing(err)) return false // someone else moved or took it
    throw err
  }
  if ((await readOwner(grave))?.token !== owner?.token) {
    try {
      renameSync(grave, lockDir)
    } catch (err) {
      // Taken meanwhile (the path is a lock directory again): theirs.
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err
    }
    return false
  }
  await fs.rm(grave, { recursive: true, force: true })
  return true
}

/**
 * A holder writes owner.json the moment it has the lock directory, so one that has had no owner
 * for longer than a refresh interval belongs to a process killed in that instant.
 */
async function ownerlessTooLong(lockDir: string): Promise<boolean> {
  const st = await unlessMissing(fs.stat(lockDir))
  return !!st && Date.now() - st.mtimeMs > OWNERLESS_MS
}
const OWNERLESS_MS = 5_000

/**
 * Take the site's one writer lock (`.ocisite/lock.d`, through proper-lockfile). A lock whose
 * holder died on this machine is taken over at once; one held elsewhere (a shared file system)
 * is taken over when it goes stale, as it stops being refreshed.
 */
export async function lockSite(site: SitePaths, options: LockOptions): Promise<SiteLock> {
  const lock = pathOf({ kind: 'state', name: 'lock' })
  await site.parentDir(lock)
  const file = site.abs(lock)
  const lockDir = `${file}.d`
  let compromised: Error | undefined
  // A dead holder on this machine is taken over at once (breakDeadLock); `stale` only matters for
  // holders elsewhere, so it can be generous enough for a busy machine's late refresh.
  const common = { realpath: false, lockfilePath: lockDir, stale: 30_000, update: 5_000, onCompromised: (err: Error) => (compromised = err) }
  const attempt = () => lockfile.lock(file, { ...common, retries: 0 })
  let release: (() => Promise<void>) | undefined
  let waited = false
  while (!release) {
    try {
      release = await attempt()
    } catch (err) {
      // proper-lockfile found the lock stale (not refreshed) but cannot rmdir it past owner.json: clear that and retry.
      if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
        await fs.rm(path.join(lockDir, 'owner.json'), { force: true })
        continue
      }
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err
      if (await breakDeadLock(lockDir)) continue
      if (!options.wait) throw new OcisiteError('SITE_LOCKED', `${site.root}: another ocisite is writing this site (lock ${lockDir}); try again later, or leave out --no-wait to wait`, { file })
      if (!waited) options.onWait?.()
      waited = true
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), token: randomBytes(12).toString('hex') }
  await fs.writeFile(path.join(lockDir, 'owner.json'), JSON.stringify(owner))
  // Old locks a killed run was moving out of the way: nobody else touches them while we hold the lock.
  const base = path.basename(lockDir)
  for (const e of await fs.readdir(path.dirname(lockDir))) {
    if (e.startsWith(`${base}.dead-`) || e.startsWith(`${base}.released-`)) await fs.rm(path.join(path.dirname(lockDir), e), { recursive: true, force: true })
  }
  const held = release
  return {
    release: async () => {
      const ours = (await readOwner(lockDir))?.token === owner.token
      if (!ours) return // taken over by someone else: theirs to release
      // proper-lockfile stops refreshing first. Its own rmdir then fails on our owner.json, so it
      // can never remove a lock directory: after the rename below, the one at this path may
      // already be the next writer's, still empty while it names itself.
      await held().catch(() => undefined)
      // One rename frees the lock, so it never stands without its owner (a kill -9 here leaves
      // either our lock, which the next writer takes over at once, or none).
      const grave = `${lockDir}.released-${randomBytes(6).toString('hex')}`
      renameSync(lockDir, grave)
      await fs.rm(grave, { recursive: true, force: true })
    },
    check: async () => {
      // A late refresh is reported as a compromise even when nobody took the lock: only a lock
      // that now names another holder is lost.
      if (compromised && (await readOwner(lockDir))?.token !== owner.token) {
        throw new OcisiteError('SITE_LOCKED', `${site.root}: lost the site lock while writing (${compromised.message})`, { file })
      }
    },
  }
}

/** Refuse `--out` values that would put other people's files at risk. */
export async function checkOut(out: string, inputs: string[], force: boolean): Promise<void> {
  const real = (await unlessMissing(fs.realpath(out))) ?? path.resolve(out)
  const refuse = (why: string) => new OcisiteError('OUT_UNSAFE', `--out ${out}: ${why}`, { file: out })
  if (real === path.parse(real).root) throw refuse('is the file system root; name a directory of its own for the site')
  const homes = new Set([os.homedir(), '/root'].map((h) => path.resolve(h)))
  if (homes.has(real) || /^\/home\/[^/]+$/.test(real)) throw refuse('is a home directory; name a directory of its own for the site (for example ~/site)')
  for (const input of inputs) {
    const from = (await unlessMissing(fs.realpath(input))) ?? path.resolve(input)
    const inside = (a: string, b: string) => a === b || a.startsWith(b.endsWith(path.sep) ? b : b + path.sep)
    if (inside(from, real)) throw refuse(`contains the input ${input}; write the site elsewhere`)
    if (inside(real, from)) throw refuse(`lies inside the input ${input}; write the site elsewhere`)
  }
  const st = await unlessMissing(fs.lstat(real))
  if (!st) return
  if (!st.isDirectory()) throw refuse('exists and is not a directory')
  if (force) return
  // One snapshot decides: a build creates .ocisite/ before anything else, so a directory another
  // build is just starting on is either still empty or already a site, never something between.
  const entries = await fs.readdir(real, { withFileTypes: true })
  if (entries.length === 0 || entries.some((e) => e.name === siteDirs.state && e.isDirectory())) return
  throw refuse(`is not empty and is not an ocisite site (no ${siteDirs.state}/); pass --force to publish into it (ocisite never deletes files it did not write)`)
}

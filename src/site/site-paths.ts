import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { DIR_MODE, lstatOrUndefined } from '../fs/atomic.js'

/**
 * A site root on disk: turns site-relative names into absolute paths that stay inside it, and
 * makes sure every directory on the way is a real directory (never a symlink out of the site).
 */
export class SitePaths {
  readonly root: string
  private readonly realDirs = new Set<string>()
  constructor(root: string) {
    this.root = path.resolve(root)
  }

  abs(rel: string): string {
    // The hot path (thousands of blob paths): a plain relative name with no "." or ".." segment
    // cannot leave the root, so it is joined without resolving.
    if (/^[A-Za-z0-9_@:+-][A-Za-z0-9._@:+-]*(?:\/[A-Za-z0-9_@:+-][A-Za-z0-9._@:+-]*)*$/.test(rel) && !/(^|\/)\.\.?(\/|$)/.test(rel)) return `${this.root}/${rel}`
    const p = path.resolve(this.root, ...rel.split('/'))
    const back = path.relative(this.root, p)
    if (back === '' || back.startsWith('..') || path.isAbsolute(back)) {
      throw new OcisiteError('PATH_INVALID', `path "${rel}" would leave the site root ${this.root}`, { path: rel })
    }
    return p
  }

  /**
   * The absolute path of `rel`'s parent directory, created as needed. Every component below the
   * root must be a real directory: a symlink (or a file) on the way is refused, so nothing is
   * written or deleted through a link out of the site.
   */
  async parentDir(rel: string, create = true): Promise<string | undefined> {
    // The hot path: a directory already checked (every blob of a shard shares one).
    const slash = rel.lastIndexOf('/')
    if (slash > 0 && this.realDirs.has(rel.slice(0, slash))) return `${this.root}/${rel.slice(0, slash)}`
    const parts = rel.split('/').slice(0, -1)
    let cur = this.root
    for (let i = 0; i < parts.length; i++) {
      const key = parts.slice(0, i + 1).join('/')
      cur = path.join(cur, parts[i]!)
      if (this.realDirs.has(key)) continue
      const st = lstatOrUndefined(cur)
      if (!st) {
        if (!create) return undefined
        await fs.mkdir(cur, { mode: DIR_MODE }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err
        })
        await fs.chmod(cur, DIR_MODE)
        const again = await fs.lstat(cur)
        if (!again.isDirectory()) throw this.notReal(key, again.isSymbolicLink())
      } else if (!st.isDirectory()) throw this.notReal(key, st.isSymbolicLink())
      this.realDirs.add(key)
    }
    return cur
  }

  /** Forget directories checked earlier (after removing some). */
  forget(): void {
    this.realDirs.clear()
  }

  private notReal(rel: string, link: boolean): OcisiteError {
    return new OcisiteError('PATH_INVALID', `${path.join(this.root, rel)} is ${link ? 'a symlink' : 'not a directory'}; ocisite writes and deletes only through real directories inside the site`, { path: rel })
  }
}

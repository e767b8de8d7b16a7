import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { DIR_MODE, lstatOrUndefined } from '../fs/atomic.js'
import type { Digest } from '../oci/digest.js'
import type { ManifestKind } from '../oci/media-types.js'

/**
 * Every path in a published site, relative to its root, in POSIX form. One place computes
 * them; routes.ts maps URLs onto the same names.
 */
export const SiteLayout = {
  wellKnown: '.well-known/oci-host-ref-engines',
  headersFile: '_headers',
  indexDir: 'oci-index',
  casDir: 'oci-cas',
  v2Dir: 'v2',
  /**
   * The keys `deploy --delete` may remove from a bucket (under its prefix): an exact key, or
   * every key below a folder ending in `/`. Anything else in the bucket is never touched. The
   * home page, `index.html`, only while the site has pages (a bucket may have one of its own).
   */
  bucketOwned: ['.well-known/oci-host-ref-engines', 'oci-index/', 'oci-cas/', 'v2/', '_/', '_ocisite/', 'index.html'],
  /** ocisite's own state: the record of owned files and the lock. Never served. */
  stateDir: '.ocisite',
  ownedRecord: '.ocisite/owned.json',
  lock: '.ocisite/lock',
  /** Stat-keyed record of verified files, so a rebuild does not re-hash what has not changed. */
  verifyCache: '.ocisite/verified.json',
  /** What the site publishes and how it was built, so `add`, `rm` and `prune` can update it. */
  published: '.ocisite/site.json',
  /** When each blob still in the site stopped being referenced (for `prune --grace`). */
  unreferenced: '.ocisite/unreferenced.json',
  /** The last complete build: what it depended on and returned, so an unchanged rebuild plans nothing. */
  buildMemo: '.ocisite/build.json',
  index: (imagePath: string) => `oci-index/${imagePath}`,
  blob: (d: Digest) => `oci-cas/${d.algorithm}/${d.encoded.slice(0, 2)}/${d.encoded}`,
  /** The digest text a blob's path names (the inverse of `blob`; unchecked: parse it). */
  blobDigest: (rel: string) => {
    const [, algorithm, , encoded] = rel.split('/')
    return `${algorithm}:${encoded}`
  },
  v2Base: 'v2/_base.json',
  v2Catalog: 'v2/_catalog.json',
  v2TagsList: (repo: string) => `v2/${repo}/_tags.json`,
  v2Tag: (repo: string, tag: string, kind: ManifestKind) => `v2/${repo}/_tags/${tag}.${kind}`,
  v2Manifest: (repo: string, d: Digest, kind: ManifestKind) => `v2/${repo}/_manifests/${d.algorithm}/${d.encoded}.${kind}`,
  v2Referrers: (repo: string, d: Digest) => `v2/${repo}/_referrers/${d.algorithm}/${d.encoded}.json`,
  /**
   * HTML pages (README: The pages). Page N of the home page and of an image's page live under
   * `_/`: no image path segment can start with "_", so none can clash with them.
   */
  homePage: (page = 1) => (page === 1 ? 'index.html' : `_/_page/${page}/index.html`),
  imagePage: (imagePath: string, page = 1) => (page === 1 ? `_/${imagePath}/index.html` : `_/${imagePath}/_page/${page}/index.html`),
  pagesDir: '_',
  pageAssetsDir: '_ocisite',
  /** The pages' stylesheet, script and icon. */
  pageAsset: (name: 'ocisite.css' | 'ocisite.js' | 'favicon.svg') => `_ocisite/${name}`,
  /** Is this site file one of the pages or their assets? */
  isPage: (rel: string) => rel === 'index.html' || rel.startsWith('_/') || rel.startsWith('_ocisite/'),
  /** The URL path a page file is served at (`_/org/app/index.html` → `/_/org/app/`). */
  pageUrl: (rel: string) => `/${rel.replace(/(^|\/)index\.html$/, '$1')}`,
} as const

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

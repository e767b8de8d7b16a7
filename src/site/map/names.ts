// The site map's vocabulary: what a site's files are (entries), and the spelling of their names
// and patterns. Only the site map (../map.ts and ./requests.ts) imports this; everything else
// in src/ goes through ../map.ts.
import path from 'node:path'
import { isOcisiteError } from '../../errors.js'
import { parseDigest, type Digest } from '../../oci/digest.js'
import { WELL_KNOWN_PATH } from '../../oci/engines.js'
import { manifestKinds, type ManifestKind } from '../../oci/media-types.js'
import { isImagePath } from '../../oci/names.js'

/** ocisite's own records inside a site (never served). */
export type StateName = 'owned' | 'lock' | 'verified' | 'published' | 'unreferenced' | 'build-memo'

/** What one file of a site is. */
export type SiteEntry =
  /** `.well-known/oci-host-ref-engines`: the ref-engines document. */
  | { kind: 'well-known' }
  /** `_headers` (Netlify, Cloudflare Pages). */
  | { kind: 'headers' }
  /** `.ocisite/…`: the record of owned files, the lock, the verify cache, the record of what is published, the grace record, the build memo. */
  | { kind: 'state'; name: StateName }
  /** `oci-index/<repo>`: one image's index of tags. */
  | { kind: 'index'; repo: string }
  /** `oci-cas/<algorithm>/<2 hex>/<hex>`: a blob. */
  | { kind: 'blob'; digest: Digest }
  /** `v2/_base.json`, served at `/v2/`. */
  | { kind: 'v2-base' }
  /** `v2/_catalog.json`. */
  | { kind: 'catalog' }
  /** `v2/<repo>/_tags.json`: a repository's tag list (its presence means the repository exists). */
  | { kind: 'tags-list'; repo: string }
  /** `v2/<repo>/_tags/<tag>.<kind>`: a tag, a hard link to its manifest's blob; the suffix selects the media type. */
  | { kind: 'tag'; repo: string; tag: string; manifestKind: ManifestKind }
  /** `v2/<repo>/_manifests/<algorithm>/<hex>.<kind>`: a manifest by digest, a hard link to its blob. */
  | { kind: 'manifest'; repo: string; digest: Digest; manifestKind: ManifestKind }
  /** `v2/<repo>/_referrers/<algorithm>/<hex>.json`: the referrers index of a subject, a hard link to its blob. */
  | { kind: 'referrers'; repo: string; digest: Digest }
  /** `index.html`, and `_/_page/<n>/index.html` past the first: the home page, listing every image. */
  | { kind: 'home'; page: number }
  /** `_/<repo>/index.html`, and `_/<repo>/_page/<n>/index.html`: an image's page. No image path segment starts with `_`, so none clashes. */
  | { kind: 'page'; repo: string; page: number }
  /** `_ocisite/<name>`: the pages' stylesheet, script and icon. */
  | { kind: 'page-asset'; name: PageAsset }
  /** `signatures/<repo>@<algorithm>=<hex>/signature-<n>`: a containers (GPG) signature of a manifest, the lookaside clients read (n = 1, 2, …). */
  | { kind: 'signature'; repo: string; digest: Digest; index: number }

/** The files served beside the pages. */
export const pageAssets = ['ocisite.css', 'ocisite.js', 'favicon.svg'] as const
export type PageAsset = (typeof pageAssets)[number]

/**
 * What a request path (or a bucket key) names. A manifest's URL does not say which kind of
 * manifest it is; a blob's `/v2/<repo>/blobs/<digest>` URL is no file of its own (a server
 * answers it from the CAS, a bucket with a zero-byte redirect into it).
 */
export type ServedEntry =
  | Exclude<SiteEntry, { kind: 'headers' | 'state' | 'tag' | 'manifest' }>
  | { kind: 'tag'; repo: string; tag: string }
  | { kind: 'manifest'; repo: string; digest: Digest }
  | { kind: 'blob-link'; repo: string; digest: Digest }

export type EntryKind = SiteEntry['kind'] | ServedEntry['kind']

export const WELL_KNOWN = WELL_KNOWN_PATH.slice(1)
export const HEADERS = '_headers'
/** The directories ocisite writes in, at the root of a site. */
export const siteDirs = { state: '.ocisite', cas: 'oci-cas', index: 'oci-index', v2: 'v2', wellKnown: path.posix.dirname(WELL_KNOWN), pages: '_', pageAssets: '_ocisite', signatures: 'signatures' } as const
export const HOME = 'index.html'
export const stateFiles: Record<StateName, string> = { owned: 'owned.json', lock: 'lock', verified: 'verified.json', published: 'site.json', unreferenced: 'unreferenced.json', 'build-memo': 'build.json' }

/** File names from their parts, as plain text: the route table fills them with `$n` captures. */
export const file = {
  index: (repo: string) => `${siteDirs.index}/${repo}`,
  blob: (algorithm: string, encoded: string, shard = encoded.slice(0, 2)) => `${siteDirs.cas}/${algorithm}/${shard}/${encoded}`,
  base: `${siteDirs.v2}/_base.json`,
  catalog: `${siteDirs.v2}/_catalog.json`,
  tagsList: (repo: string) => `${siteDirs.v2}/${repo}/_tags.json`,
  tag: (repo: string, tag: string, kind: string) => `${siteDirs.v2}/${repo}/_tags/${tag}.${kind}`,
  manifest: (repo: string, algorithm: string, encoded: string, kind: string) => `${siteDirs.v2}/${repo}/_manifests/${algorithm}/${encoded}.${kind}`,
  referrers: (repo: string, algorithm: string, encoded: string) => `${siteDirs.v2}/${repo}/_referrers/${algorithm}/${encoded}.json`,
  home: (page: number) => (page === 1 ? HOME : `${siteDirs.pages}/_page/${page}/${HOME}`),
  page: (repo: string, page: number) => (page === 1 ? `${siteDirs.pages}/${repo}/${HOME}` : `${siteDirs.pages}/${repo}/_page/${page}/${HOME}`),
  pageAsset: (name: string) => `${siteDirs.pageAssets}/${name}`,
  signature: (repo: string, algorithm: string, encoded: string, index: string) => `${siteDirs.signatures}/${repo}@${algorithm}=${encoded}/signature-${index}`,
}

/** A digest from a path's parts; undefined when they do not make one. */
export function digestOf(algorithm: string | undefined, encoded: string | undefined): Digest | undefined {
  try {
    return parseDigest(`${algorithm}:${encoded}`)
  } catch (err) {
    if (isOcisiteError(err) && err.code === 'DIGEST_INVALID') return undefined
    throw err
  }
}

export const repoOf = (text: string | undefined) => (text !== undefined && isImagePath(text) ? text : undefined)
export const indexOf = (text: string | undefined) => (text !== undefined && /^[1-9][0-9]{0,8}$/.test(text) ? Number(text) : undefined)
export const kindOf = (text: string | undefined) => (text !== undefined && Object.hasOwn(manifestKinds, text) ? (text as ManifestKind) : undefined)
export const stateNames = new Map(Object.entries(stateFiles).map(([name, f]) => [`${siteDirs.state}/${f}`, name as StateName]))

export const ALG = '(sha256|sha512)'
export const KINDS = `(${Object.keys(manifestKinds).join('|')})`
export const REPO = '(.+)'
/** Stands for a part of a name, so a pattern can be made from the same builder that spells it. */
export const PART = '\u0000'
export const regexText = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** An anchored pattern (PCRE and JavaScript) for `name`, built with PART for each part: its text escaped, each part the next group. */
export function patternOf(name: string, ...groups: string[]): string {
  let i = 0
  return `^${regexText(name).replaceAll(PART, () => groups[i++]!)}$`
}

/**
 * A page's entry from the part of its path below `_/` (`org/app`, `org/app/_page/2`, `_page/2`);
 * undefined when it names none (page 1 is never spelt `_page/1`).
 */
export function pageEntry(below: string): Extract<SiteEntry, { kind: 'home' | 'page' }> | undefined {
  const m = /^(?:(.+)\/)?_page\/([1-9][0-9]*)$/.exec(below)
  const page = m ? Number(m[2]) : 1
  if (m && page < 2) return undefined
  const repo = m ? m[1] : below
  if (repo === undefined) return { kind: 'home', page }
  return isImagePath(repo) ? { kind: 'page', repo, page } : undefined
}


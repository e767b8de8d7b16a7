import path from 'node:path'
import { isOcisiteError } from '../errors.js'
import { parseDigest, type Digest } from '../oci/digest.js'
import { distributionPaths as v2Url } from '../oci/distribution.js'
import { WELL_KNOWN_PATH } from '../oci/engines.js'
import { manifestKinds, type ManifestKind } from '../oci/media-types.js'
import { isImagePath, isTag, TAG_PATTERN } from '../oci/names.js'

// The site map: the one place that knows the names of a site's files and the URLs they answer.
// A file is named by an entry (what it is); `pathOf` and `entryOf` turn one into the other,
// `urlOf` and `bucketKeyOf` give where it is served, `phaseOf` and `deleteRank` when it is
// written and deleted. Everything else in src/ goes through these.

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

const WELL_KNOWN = WELL_KNOWN_PATH.slice(1)
const HEADERS = '_headers'
/** The directories ocisite writes in, at the root of a site. */
export const siteDirs = { state: '.ocisite', cas: 'oci-cas', index: 'oci-index', v2: 'v2', wellKnown: path.posix.dirname(WELL_KNOWN), pages: '_', pageAssets: '_ocisite', signatures: 'signatures' } as const
const HOME = 'index.html'
const stateFiles: Record<StateName, string> = { owned: 'owned.json', lock: 'lock', verified: 'verified.json', published: 'site.json', unreferenced: 'unreferenced.json', 'build-memo': 'build.json' }

/** File names from their parts, as plain text: the route table fills them with `$n` captures. */
const file = {
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

/** A site entry's path, relative to the site root, in POSIX form. */
export function pathOf(entry: SiteEntry): string {
  switch (entry.kind) {
    case 'well-known':
      return WELL_KNOWN
    case 'headers':
      return HEADERS
    case 'state':
      return `${siteDirs.state}/${stateFiles[entry.name]}`
    case 'index':
      return file.index(entry.repo)
    case 'blob':
      return file.blob(entry.digest.algorithm, entry.digest.encoded)
    case 'v2-base':
      return file.base
    case 'catalog':
      return file.catalog
    case 'tags-list':
      return file.tagsList(entry.repo)
    case 'tag':
      return file.tag(entry.repo, entry.tag, entry.manifestKind)
    case 'manifest':
      return file.manifest(entry.repo, entry.digest.algorithm, entry.digest.encoded, entry.manifestKind)
    case 'referrers':
      return file.referrers(entry.repo, entry.digest.algorithm, entry.digest.encoded)
    case 'home':
      return file.home(entry.page)
    case 'page':
      return file.page(entry.repo, entry.page)
    case 'page-asset':
      return file.pageAsset(entry.name)
    case 'signature':
      return file.signature(entry.repo, entry.digest.algorithm, entry.digest.encoded, String(entry.index))
  }
}

/** A digest from a path's parts; undefined when they do not make one. */
function digestOf(algorithm: string | undefined, encoded: string | undefined): Digest | undefined {
  try {
    return parseDigest(`${algorithm}:${encoded}`)
  } catch (err) {
    if (isOcisiteError(err) && err.code === 'DIGEST_INVALID') return undefined
    throw err
  }
}

const repoOf = (text: string | undefined) => (text !== undefined && isImagePath(text) ? text : undefined)
const indexOf = (text: string | undefined) => (text !== undefined && /^[1-9][0-9]{0,8}$/.test(text) ? Number(text) : undefined)
const kindOf = (text: string | undefined) => (text !== undefined && Object.hasOwn(manifestKinds, text) ? (text as ManifestKind) : undefined)
const stateNames = new Map(Object.entries(stateFiles).map(([name, f]) => [`${siteDirs.state}/${f}`, name as StateName]))

const ALG = '(sha256|sha512)'
const KINDS = `(${Object.keys(manifestKinds).join('|')})`
const REPO = '(.+)'
/** Stands for a part of a name, so a pattern can be made from the same builder that spells it. */
const PART = '\u0000'
const regexText = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** An anchored pattern (PCRE and JavaScript) for `name`, built with PART for each part: its text escaped, each part the next group. */
function patternOf(name: string, ...groups: string[]): string {
  let i = 0
  return `^${regexText(name).replaceAll(PART, () => groups[i++]!)}$`
}

/** How each kind of site path reads back: its pattern, and the entry the captures make (undefined: not a valid one). */
const fileParsers: Array<[RegExp, (m: RegExpExecArray) => SiteEntry | undefined]> = [
  [new RegExp(patternOf(file.blob(PART, PART, PART), ALG, '([0-9a-f]{2})', '([0-9a-f]+)')), (m) => {
    const digest = m[3]!.startsWith(m[2]!) ? digestOf(m[1], m[3]) : undefined
    return digest && { kind: 'blob', digest }
  }],
  [new RegExp(patternOf(file.index(PART), REPO)), (m) => {
    const repo = repoOf(m[1])
    return repo === undefined ? undefined : { kind: 'index', repo }
  }],
  [new RegExp(patternOf(file.tagsList(PART), REPO)), (m) => {
    const repo = repoOf(m[1])
    return repo === undefined ? undefined : { kind: 'tags-list', repo }
  }],
  [new RegExp(patternOf(file.tag(PART, PART, PART), REPO, '([^/]+)', KINDS)), (m) => {
    const [repo, manifestKind] = [repoOf(m[1]), kindOf(m[3])]
    return repo !== undefined && manifestKind && isTag(m[2]!) ? { kind: 'tag', repo, tag: m[2]!, manifestKind } : undefined
  }],
  [new RegExp(patternOf(file.manifest(PART, PART, PART, PART), REPO, ALG, '([0-9a-f]+)', KINDS)), (m) => {
    const [repo, digest, manifestKind] = [repoOf(m[1]), digestOf(m[2], m[3]), kindOf(m[4])]
    return repo !== undefined && digest && manifestKind ? { kind: 'manifest', repo, digest, manifestKind } : undefined
  }],
  [new RegExp(patternOf(file.referrers(PART, PART, PART), REPO, ALG, '([0-9a-f]+)')), (m) => {
    const [repo, digest] = [repoOf(m[1]), digestOf(m[2], m[3])]
    return repo !== undefined && digest ? { kind: 'referrers', repo, digest } : undefined
  }],
  [new RegExp(patternOf(file.signature(PART, PART, PART, PART), REPO, ALG, '([0-9a-f]+)', '([0-9]+)')), (m) => {
    const [repo, digest, index] = [repoOf(m[1]), digestOf(m[2], m[3]), indexOf(m[4])]
    return repo !== undefined && digest && index !== undefined ? { kind: 'signature', repo, digest, index } : undefined
  }],
]

/**
 * A page's entry from the part of its path below `_/` (`org/app`, `org/app/_page/2`, `_page/2`);
 * undefined when it names none (page 1 is never spelt `_page/1`).
 */
function pageEntry(below: string): Extract<SiteEntry, { kind: 'home' | 'page' }> | undefined {
  const m = /^(?:(.+)\/)?_page\/([1-9][0-9]*)$/.exec(below)
  const page = m ? Number(m[2]) : 1
  if (m && page < 2) return undefined
  const repo = m ? m[1] : below
  if (repo === undefined) return { kind: 'home', page }
  return isImagePath(repo) ? { kind: 'page', repo, page } : undefined
}

const PAGE_FILE = new RegExp(`^${regexText(siteDirs.pages)}/(.+)/${regexText(HOME)}$`)
const ASSET_FILE = new RegExp(`^${regexText(siteDirs.pageAssets)}/(${pageAssets.map(regexText).join('|')})$`)

/** What the file at `rel` (relative to the site root, POSIX) is; undefined when no entry has that path. */
export function entryOf(rel: string): SiteEntry | undefined {
  if (rel === HOME) return { kind: 'home', page: 1 }
  const page = PAGE_FILE.exec(rel)
  if (page) return pageEntry(page[1]!)
  const asset = ASSET_FILE.exec(rel)
  if (asset) return { kind: 'page-asset', name: asset[1] as PageAsset }
  if (rel === WELL_KNOWN) return { kind: 'well-known' }
  if (rel === HEADERS) return { kind: 'headers' }
  if (rel === file.base) return { kind: 'v2-base' }
  if (rel === file.catalog) return { kind: 'catalog' }
  const state = stateNames.get(rel)
  if (state) return { kind: 'state', name: state }
  for (const [re, entry] of fileParsers) {
    const m = re.exec(rel)
    const found = m ? entry(m) : undefined
    if (found) return found
  }
  return undefined
}

/**
 * The publishing order, phase by phase: what an entry names is always in place before it. ocisite's
 * own records come first (the record of owned files is saved before any blob), then blobs, a
 * bucket's blob redirects, manifests by digest, tags and referrers, tag lists, the catalog and
 * `/v2/`, the indexes, and the well-known document last (README, "Crashes").
 */
// The pages go after the indexes they show and before the well-known document: assets, then
// images' pages, then the home page that links them. A manifest's signatures go before the tags
// that name it, so a client that reads a tag finds its signature.
const phases: Record<EntryKind, number> = { state: 0, blob: 1, 'blob-link': 2, manifest: 3, signature: 3.5, tag: 4, referrers: 4, 'tags-list': 5, catalog: 6, 'v2-base': 6, index: 7, 'page-asset': 7.25, page: 7.5, home: 7.75, 'well-known': 8, headers: 8 }
const LAST_PHASE = 8

/** When an entry is written: every entry of a lower phase first. */
export function phaseOf(entry: { kind: EntryKind }): number {
  return phases[entry.kind]
}

/** When an entry is deleted: the reverse of the publishing order, documents before what they name. */
export function deleteRank(entry: { kind: EntryKind }): number {
  return LAST_PHASE - phases[entry.kind]
}

/** The URL path an entry is served at; undefined for files that are not served (`_headers`, ocisite's records). */
export function urlOf(entry: ServedEntry): string
export function urlOf(entry: SiteEntry | ServedEntry): string | undefined
export function urlOf(entry: SiteEntry | ServedEntry): string | undefined {
  switch (entry.kind) {
    case 'headers':
    case 'state':
      return undefined
    case 'v2-base':
      return v2Url.base
    case 'catalog':
      return v2Url.catalog
    case 'tags-list':
      return v2Url.tagsList(entry.repo)
    case 'tag':
      return v2Url.manifest(entry.repo, entry.tag)
    case 'manifest':
      return v2Url.manifest(entry.repo, entry.digest.value)
    case 'referrers':
      return v2Url.referrers(entry.repo, entry.digest.value)
    case 'blob-link':
      return v2Url.blob(entry.repo, entry.digest.value)
    case 'home':
    case 'page':
      // A page is its directory's index.html: served at the directory.
      return `/${pathOf(entry).slice(0, -HOME.length)}`
    default:
      // The discovery files are served at their own paths.
      return `/${pathOf(entry)}`
  }
}

/**
 * The key of an entry's object in a bucket (below its prefix): the request path, so a bucket's
 * website endpoint answers like nginx (README, "How /v2/ works in a bucket"); `/v2/` itself is
 * the index document below `v2/`.
 */
export function bucketKeyOf(entry: ServedEntry, indexDocument?: string): string
export function bucketKeyOf(entry: SiteEntry | ServedEntry, indexDocument?: string): string | undefined
export function bucketKeyOf(entry: SiteEntry | ServedEntry, indexDocument = 'index.html'): string | undefined {
  if (entry.kind === 'v2-base') return `${siteDirs.v2}/${indexDocument}`
  // The website endpoint answers a directory with its index document.
  if (entry.kind === 'home' || entry.kind === 'page') return pathOf(entry)
  return urlOf(entry)?.slice(1)
}

/** What a bucket key names (the inverse of bucketKeyOf). */
export function entryOfKey(key: string, indexDocument = 'index.html'): ServedEntry | undefined {
  return key === `${siteDirs.v2}/${indexDocument}` ? { kind: 'v2-base' } : entryOfUrl(`/${key}`)
}

/**
 * The keys `deploy --delete` may remove (under the bucket's prefix): an exact key, or every key
 * below a folder ending in `/`. The home page only while the site has pages (a bucket may have
 * an `index.html` of its own).
 */
export const bucketOwned = [WELL_KNOWN, `${siteDirs.index}/`, `${siteDirs.cas}/`, `${siteDirs.v2}/`, `${siteDirs.pages}/`, `${siteDirs.pageAssets}/`, `${siteDirs.signatures}/`, HOME] as const

/** Whether a bucket key is one of ocisite's: nothing else is ever deleted. */
export function ownsKey(key: string, html = true): boolean {
  if (key === HOME && !html) return false
  return bucketOwned.some((k) => (k.endsWith('/') ? key.startsWith(k) : key === k))
}

/**
 * A bucket site's own records, below its state folder (never listed but by these prefixes): the
 * site record as numbered generations (`record/<n>`, zero-padded so keys sort as numbers), a
 * marker per generation whose documents are all out (`record/<n>.done`), and probe keys.
 */
const RECORDS = `${siteDirs.state}/record/`
const PROBES = `${siteDirs.state}/probe/`
export const bucketState = {
  records: RECORDS,
  probes: PROBES,
  record: (n: number) => `${RECORDS}${String(n).padStart(16, '0')}`,
  done: (n: number) => `${RECORDS}${String(n).padStart(16, '0')}.done`,
  probe: (id: string) => `${PROBES}${id}`,
} as const

/** What a key below `bucketState.records` is: generation n's record, or its done marker. */
export function recordKeyOf(key: string): { generation: number; done: boolean } | undefined {
  const m = /^([0-9]{16})(\.done)?$/.exec(key.startsWith(RECORDS) ? key.slice(RECORDS.length) : '')
  return m ? { generation: Number(m[1]), done: m[2] !== undefined } : undefined
}

/** The URI templates (RFC 6570) a site's discovery documents advertise: `urlOf` of an index and of a blob. */
export const engineUris = {
  index: `/${file.index('{path}')}`,
  cas: `/${file.blob('{algorithm}', '{encoded}', '{encoded:2}')}`,
} as const

/** Suffixes of manifest files, sorted, and the media type each is served with (nginx's `types`). */
export const manifestSuffixTypes: Array<{ suffix: ManifestKind; type: string }> = (Object.keys(manifestKinds) as ManifestKind[]).sort().map((suffix) => ({ suffix, type: manifestKinds[suffix] }))

/**
 * How each served kind is requested, in the order a server tries them: an anchored pattern over
 * the decoded URI path (valid in PCRE and JavaScript), the site files that answer it in turn
 * (`$n`: the pattern's captures), the captures that spell its digest, and whether `$1` is a
 * repository. The route table adds headers; nginx's try_files and `serve` both read these.
 */
export interface RequestPattern {
  kind: ServedEntry['kind']
  pattern: string
  files: string[]
  /** A path glob for hosts that set headers by path (`_headers`). */
  glob?: string
  digest?: string
  repo: boolean
  v2: boolean
  /** One of the HTML pages (left out with --no-html). */
  html?: true
}

const HEX = '([0-9a-f]{64,128})'
const DIGEST = `${ALG}:${HEX}`
const manifestFiles = (name: (kind: string) => string) => manifestSuffixTypes.map((s) => `/${name(s.suffix)}`)

/** Every request pattern, in order; the /v2/ ones only matter where the site serves /v2/. */
export const requestPatterns: RequestPattern[] = [
  { kind: 'well-known', pattern: patternOf(WELL_KNOWN_PATH), glob: WELL_KNOWN_PATH, files: [WELL_KNOWN_PATH], repo: false, v2: false },
  { kind: 'index', pattern: patternOf(`/${file.index(PART)}`, REPO), glob: `/${siteDirs.index}/*`, files: [`/${file.index('$1')}`], repo: false, v2: false },
  { kind: 'blob', pattern: patternOf(`/${file.blob(PART, PART, PART)}`, ALG, '([0-9a-f]{2})', HEX), glob: `/${siteDirs.cas}/*`, files: [`/${file.blob('$1', '$3', '$2')}`], repo: false, v2: false },
  { kind: 'v2-base', pattern: patternOf(v2Url.base).replace(/\/\$$/, '/?$'), files: [`/${file.base}`], repo: false, v2: true },
  { kind: 'catalog', pattern: patternOf(v2Url.catalog), files: [`/${file.catalog}`], repo: false, v2: true },
  { kind: 'tags-list', pattern: patternOf(v2Url.tagsList(PART), REPO), files: [`/${file.tagsList('$1')}`], repo: true, v2: true },
  { kind: 'manifest', pattern: patternOf(v2Url.manifest(PART, PART), REPO, DIGEST), files: manifestFiles((k) => file.manifest('$1', '$2', '$3', k)), digest: '$2:$3', repo: true, v2: true },
  { kind: 'tag', pattern: patternOf(v2Url.manifest(PART, PART), REPO, `(${TAG_PATTERN})`), files: manifestFiles((k) => file.tag('$1', '$2', k)), repo: true, v2: true },
  { kind: 'blob-link', pattern: patternOf(v2Url.blob(PART, PART), REPO, `${ALG}:([0-9a-f]{2})([0-9a-f]{62,126})`), files: [`/${file.blob('$2', '$3$4', '$3')}`], digest: '$2:$3$4', repo: true, v2: true },
  { kind: 'referrers', pattern: patternOf(v2Url.referrers(PART, PART), REPO, DIGEST), files: [`/${file.referrers('$1', '$2', '$3')}`], repo: true, v2: true },
  // The pages: a directory's index.html answers the directory (with or without its slash) and its own name.
  { kind: 'home', pattern: `^/(?:${regexText(HOME)})?$`, glob: '/', files: [`/${HOME}`], repo: false, v2: false, html: true },
  { kind: 'page', pattern: `^/${regexText(siteDirs.pages)}/(.+?)(?:/${regexText(HOME)}|/)?$`, glob: `/${siteDirs.pages}/*`, files: [`/${siteDirs.pages}/$1/${HOME}`], repo: false, v2: false, html: true },
  { kind: 'page-asset', pattern: patternOf(`/${file.pageAsset(PART)}`, `(${pageAssets.map(regexText).join('|')})`), glob: `/${siteDirs.pageAssets}/*`, files: [`/${file.pageAsset('$1')}`], repo: false, v2: false, html: true },
  // The lookaside: `lookaside: https://HOST/signatures` in a client's registries.d.
  { kind: 'signature', pattern: patternOf(`/${file.signature(PART, PART, PART, PART)}`, REPO, ALG, HEX, '([1-9][0-9]{0,8})'), glob: `/${siteDirs.signatures}/*`, files: [`/${file.signature('$1', '$2', '$3', '$4')}`], repo: false, v2: false },
]

/** The file whose presence means a /v2/ repository exists (`$1`: the repository). */
export const repoMarker = `/${file.tagsList('$1')}`

/** The entry a request pattern's match names (undefined: the captures make no valid one). */
function servedEntry(kind: ServedEntry['kind'], m: RegExpExecArray): ServedEntry | undefined {
  const repo = repoOf(m[1])
  switch (kind) {
    case 'well-known':
    case 'v2-base':
    case 'catalog':
      return { kind }
    case 'index':
    case 'tags-list':
      return repo === undefined ? undefined : { kind, repo }
    case 'blob': {
      const digest = m[3]!.startsWith(m[2]!) ? digestOf(m[1], m[3]) : undefined
      return digest && { kind, digest }
    }
    case 'tag':
      return repo === undefined ? undefined : { kind, repo, tag: m[2]! }
    case 'manifest':
    case 'referrers': {
      const digest = digestOf(m[2], m[3])
      return repo === undefined || !digest ? undefined : { kind, repo, digest }
    }
    case 'blob-link': {
      const digest = digestOf(m[2], `${m[3]}${m[4]}`)
      return repo === undefined || !digest ? undefined : { kind, repo, digest }
    }
    case 'home':
      return { kind, page: 1 }
    case 'page':
      return pageEntry(m[1]!)
    case 'page-asset':
      return { kind, name: m[1] as PageAsset }
    case 'signature': {
      const [digest, index] = [digestOf(m[2], m[3]), indexOf(m[4])]
      return repo === undefined || !digest || index === undefined ? undefined : { kind, repo, digest, index }
    }
  }
}

const compiled = requestPatterns.map((p) => ({ kind: p.kind, re: new RegExp(p.pattern) }))

/** What a decoded, normalised request path names, as the first matching pattern reads it (as nginx does). */
export function entryOfUrl(uriPath: string): ServedEntry | undefined {
  for (const { kind, re } of compiled) {
    const m = re.exec(uriPath)
    if (m) return servedEntry(kind, m)
  }
  return undefined
}

// SitePaths (a site root on disk) lives in site-paths.ts; importable from here too.
export { SitePaths } from './site-paths.js'

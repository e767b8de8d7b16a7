import { distributionPaths as v2Url } from '../oci/distribution.js'
import { isTag } from '../oci/names.js'
import {
  ALG,
  digestOf,
  file,
  HEADERS,
  HOME,
  indexOf,
  kindOf,
  KINDS,
  pageAssets,
  pageEntry,
  PART,
  patternOf,
  regexText,
  REPO,
  repoOf,
  siteDirs,
  stateFiles,
  stateNames,
  WELL_KNOWN,
  type EntryKind,
  type PageAsset,
  type ServedEntry,
  type SiteEntry,
} from './map/names.js'
import { entryOfUrl } from './map/requests.js'

// The site map: the one place that knows the names of a site's files and the URLs they answer.
// A file is named by an entry (what it is); `pathOf` and `entryOf` turn one into the other,
// `urlOf` and `bucketKeyOf` give where it is served, `phaseOf` and `deleteRank` when it is
// written and deleted. Everything else in src/ goes through these. Its vocabulary is in
// map/names.ts, its request patterns in map/requests.ts; both are re-exported here.
export { pageAssets, siteDirs, type EntryKind, type PageAsset, type ServedEntry, type SiteEntry, type StateName } from './map/names.js'
export { entryOfUrl, manifestSuffixTypes, repoMarker, requestPatterns, type RequestPattern } from './map/requests.js'

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

// SitePaths (a site root on disk) lives in site-paths.ts; importable from here too.
export { SitePaths } from './site-paths.js'

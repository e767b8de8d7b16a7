// The site map's request patterns: how each served entry is requested (the route table, nginx's
// try_files and `serve` all read these), and what a request path names. Part of the site map:
// everything else in src/ imports it through ../map.ts.
import { digestOf, file, HOME, indexOf, pageAssets, pageEntry, PART, patternOf, regexText, repoOf, REPO, ALG, siteDirs, type PageAsset, type ServedEntry } from './names.js'
import { distributionPaths as v2Url } from '../../oci/distribution.js'
import { WELL_KNOWN_PATH } from '../../oci/engines.js'
import { manifestKinds, type ManifestKind } from '../../oci/media-types.js'
import { TAG_PATTERN } from '../../oci/names.js'

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


import { MediaType, manifestKinds, type ManifestKind } from '../../oci/media-types.js'

/** Cache lifetimes: blobs never change; documents change on every publish. */
export const CacheControl = {
  immutable: 'public, max-age=31536000, immutable',
  short: 'public, max-age=60',
  none: 'no-store',
} as const

/**
 * The pages' Content-Security-Policy: everything from the site's own origin, nothing else (no
 * inline script or style, no other host, no plugins, no framing by other sites).
 */
export const PAGE_CSP = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"

export type DistributionErrorCode = 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN'

/** What a /v2/ route answers when no file exists (after checking that the repository exists). */
export type Miss = DistributionErrorCode | 'EMPTY_REFERRERS'

/** The answer for a miss: status, Content-Type and body. NAME_UNKNOWN wins when the repository is unknown. */
export function missResponse(miss: Miss): { status: number; contentType: string; body: string } {
  if (miss === 'EMPTY_REFERRERS') {
    return { status: 200, contentType: MediaType.ociIndex, body: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }) }
  }
  return { status: 404, contentType: MediaType.json, body: errorBody(miss) }
}

/** The JSON error body the distribution spec defines, for each 404 kind. */
export function errorBody(code: DistributionErrorCode): string {
  const message = { MANIFEST_UNKNOWN: 'manifest unknown', BLOB_UNKNOWN: 'blob unknown to registry', NAME_UNKNOWN: 'repository name not known to registry' }[code]
  return JSON.stringify({ errors: [{ code, message, detail: {} }] })
}

/**
 * One route of a published site. The nginx template is rendered from these, and `ocisite serve`
 * interprets the same objects, so both servers answer alike.
 */
export interface Route {
  id: string
  /** An anchored regular expression over the decoded URI path, valid in both PCRE and JavaScript. */
  pattern: string
  /** Site files to try in order (`$1`… are captures); the first regular file is served. */
  files: string[]
  /** A fixed Content-Type, or undefined when the served file's suffix selects it. */
  contentType?: string
  /** Append `; charset=utf-8` (JSON documents of the discovery protocol). */
  charset: boolean
  cacheControl: string
  /**
   * Docker-Content-Digest, from the URL's captures (`$2:$3`). Tag URLs have none: the digest of
   * a tag changes on every publish, and a server config that knew it would need a reload each
   * time (a stale header is worse than none: docker and containerd trust it).
   */
  digest?: { captures: string }
  /** Part of the /v2/ distribution API. */
  v2: boolean
  /** For hosts that set headers by path (Netlify and Cloudflare Pages `_headers`): the path pattern. */
  pathGlob?: string
  /** When no file exists: what to answer instead of a bare 404 (NAME_UNKNOWN if the repository itself is unknown). */
  miss?: Miss
  /** Further response headers (the pages' Content-Security-Policy). */
  headers?: Record<string, string>
}

/** Suffixes of /v2/ manifest files, and the exact media type each is served with. */
export const manifestSuffixTypes: Array<{ suffix: ManifestKind; type: string }> = (Object.keys(manifestKinds) as ManifestKind[])
  .sort()
  .map((suffix) => ({ suffix, type: manifestKinds[suffix] }))

const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}'
const ALG = '(sha256|sha512)'
const manifestFiles = (prefix: string) => manifestSuffixTypes.map((s) => `${prefix}.${s.suffix}`)

/** The repository file whose presence means a /v2/ repository exists (`$1` is the repository). */
export const repoMarker = '/v2/$1/_tags.json'

/**
 * The HTML pages and their assets: the home page at `/`, each image's pages under `/_/<path>/`
 * (`index.html` in a directory, as a bucket's website endpoint serves them), assets under
 * `/_ocisite/`. Documents: the same short cache as the indexes.
 */
function pageRoutes(): Route[] {
  const page = { charset: true, cacheControl: CacheControl.short, v2: false, headers: { 'Content-Security-Policy': PAGE_CSP, 'X-Content-Type-Options': 'nosniff' } }
  return [
    { id: 'page-home', pattern: '^/(?:index\\.html)?$', pathGlob: '/', files: ['/index.html'], contentType: 'text/html', ...page },
    { id: 'page', pattern: '^/_/(.+?)(?:/index\\.html|/)?$', pathGlob: '/_/*', files: ['/_/$1/index.html'], contentType: 'text/html', ...page },
    { id: 'page-css', pattern: '^/_ocisite/ocisite\\.css$', pathGlob: '/_ocisite/ocisite.css', files: ['/_ocisite/ocisite.css'], contentType: 'text/css', ...page },
    { id: 'page-js', pattern: '^/_ocisite/ocisite\\.js$', pathGlob: '/_ocisite/ocisite.js', files: ['/_ocisite/ocisite.js'], contentType: 'text/javascript', ...page },
    { id: 'page-icon', pattern: '^/_ocisite/favicon\\.svg$', pathGlob: '/_ocisite/favicon.svg', files: ['/_ocisite/favicon.svg'], contentType: 'image/svg+xml', ...page, charset: false },
  ]
}

/** Every route a site serves, discovery first, then /v2/, then the pages. Anything else is 404. */
export function siteRoutes(options: { v2: boolean; html?: boolean }): Route[] {
  const discovery: Route[] = [
    { id: 'ref-engines', pattern: '^/\\.well-known/oci-host-ref-engines$', pathGlob: '/.well-known/oci-host-ref-engines', files: ['/.well-known/oci-host-ref-engines'], contentType: MediaType.refEngines, charset: true, cacheControl: CacheControl.short, v2: false },
    { id: 'oci-index', pattern: '^/oci-index/(.+)$', pathGlob: '/oci-index/*', files: ['/oci-index/$1'], contentType: MediaType.ociIndex, charset: true, cacheControl: CacheControl.short, v2: false },
    { id: 'oci-cas', pattern: '^/oci-cas/(sha256|sha512)/([0-9a-f]{2})/([0-9a-f]{64,128})$', pathGlob: '/oci-cas/*', files: ['/oci-cas/$1/$2/$3'], contentType: MediaType.octetStream, charset: false, cacheControl: CacheControl.immutable, v2: false },
  ]
  const pages = options.html === false ? [] : pageRoutes()
  if (!options.v2) return [...discovery, ...pages]
  const v2: Route[] = [
    { id: 'v2-base', pattern: '^/v2/?$', files: ['/v2/_base.json'], contentType: MediaType.json, charset: false, cacheControl: CacheControl.short, v2: true },
    { id: 'v2-catalog', pattern: '^/v2/_catalog$', files: ['/v2/_catalog.json'], contentType: MediaType.json, charset: false, cacheControl: CacheControl.short, v2: true },
    { id: 'v2-tags-list', pattern: '^/v2/(.+)/tags/list$', files: ['/v2/$1/_tags.json'], contentType: MediaType.json, charset: false, cacheControl: CacheControl.short, v2: true, miss: 'NAME_UNKNOWN' },
    { id: 'v2-manifest-digest', pattern: `^/v2/(.+)/manifests/${ALG}:([0-9a-f]{64,128})$`, files: manifestFiles('/v2/$1/_manifests/$2/$3'), charset: false, cacheControl: CacheControl.immutable, digest: { captures: '$2:$3' }, v2: true, miss: 'MANIFEST_UNKNOWN' },
    { id: 'v2-manifest-tag', pattern: `^/v2/(.+)/manifests/(${TAG})$`, files: manifestFiles('/v2/$1/_tags/$2'), charset: false, cacheControl: CacheControl.short, v2: true, miss: 'MANIFEST_UNKNOWN' },
    { id: 'v2-blob', pattern: `^/v2/(.+)/blobs/${ALG}:([0-9a-f]{2})([0-9a-f]{62,126})$`, files: ['/oci-cas/$2/$3/$3$4'], contentType: MediaType.octetStream, charset: false, cacheControl: CacheControl.immutable, digest: { captures: '$2:$3$4' }, v2: true, miss: 'BLOB_UNKNOWN' },
    { id: 'v2-referrers', pattern: `^/v2/(.+)/referrers/${ALG}:([0-9a-f]{64,128})$`, files: ['/v2/$1/_referrers/$2/$3.json'], contentType: MediaType.ociIndex, charset: false, cacheControl: CacheControl.short, v2: true, miss: 'EMPTY_REFERRERS' },
  ]
  return [...discovery, ...v2, ...pages]
}

/** Substitute `$1`… in a template with regex captures. */
export function expandCaptures(template: string, captures: ArrayLike<string | undefined>): string {
  return template.replace(/\$(\d)/g, (_, n: string) => captures[Number(n)] ?? '')
}

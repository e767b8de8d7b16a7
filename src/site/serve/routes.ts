import { MediaType } from '../../oci/media-types.js'
import { requestPatterns, type RequestPattern } from '../map.js'

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

/** The pages' assets, served with the type their suffix says. */
export const pageAssetTypes = [
  { suffix: 'css', type: 'text/css' },
  { suffix: 'js', type: 'text/javascript' },
  { suffix: 'svg', type: 'image/svg+xml' },
]

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
  /** `$1` is the /v2/ repository (a miss checks it exists). */
  repo: boolean
  /** For hosts that set headers by path (Netlify and Cloudflare Pages `_headers`): the path pattern. */
  pathGlob?: string
  /** When no file exists: what to answer instead of a bare 404 (NAME_UNKNOWN if the repository itself is unknown). */
  miss?: Miss
  /** Without a fixed Content-Type: the type of each file suffix (default: the manifest kinds'). */
  types?: Array<{ suffix: string; type: string }>
  /** Further response headers (the pages' Content-Security-Policy). */
  headers?: Record<string, string>
}

const pageHeaders = { 'Content-Security-Policy': PAGE_CSP, 'X-Content-Type-Options': 'nosniff' }

/** What each kind of request is served as; the site map says which URLs and files. */
const serving: Record<RequestPattern['kind'], Omit<Route, 'pattern' | 'files' | 'digest' | 'v2' | 'pathGlob' | 'repo'>> = {
  'well-known': { id: 'ref-engines', contentType: MediaType.refEngines, charset: true, cacheControl: CacheControl.short },
  index: { id: 'oci-index', contentType: MediaType.ociIndex, charset: true, cacheControl: CacheControl.short },
  blob: { id: 'oci-cas', contentType: MediaType.octetStream, charset: false, cacheControl: CacheControl.immutable },
  'v2-base': { id: 'v2-base', contentType: MediaType.json, charset: false, cacheControl: CacheControl.short },
  catalog: { id: 'v2-catalog', contentType: MediaType.json, charset: false, cacheControl: CacheControl.short },
  'tags-list': { id: 'v2-tags-list', contentType: MediaType.json, charset: false, cacheControl: CacheControl.short, miss: 'NAME_UNKNOWN' },
  manifest: { id: 'v2-manifest-digest', charset: false, cacheControl: CacheControl.immutable, miss: 'MANIFEST_UNKNOWN' },
  tag: { id: 'v2-manifest-tag', charset: false, cacheControl: CacheControl.short, miss: 'MANIFEST_UNKNOWN' },
  'blob-link': { id: 'v2-blob', contentType: MediaType.octetStream, charset: false, cacheControl: CacheControl.immutable, miss: 'BLOB_UNKNOWN' },
  referrers: { id: 'v2-referrers', contentType: MediaType.ociIndex, charset: false, cacheControl: CacheControl.short, miss: 'EMPTY_REFERRERS' },
  // The pages: documents, with the indexes' short cache and a same-origin CSP.
  home: { id: 'page-home', contentType: 'text/html', charset: true, cacheControl: CacheControl.short, headers: pageHeaders },
  page: { id: 'page', contentType: 'text/html', charset: true, cacheControl: CacheControl.short, headers: pageHeaders },
  'page-asset': { id: 'page-asset', types: pageAssetTypes, charset: true, cacheControl: CacheControl.short, headers: pageHeaders },
}

/** Every route a site serves, discovery first, then /v2/, then the pages (unless `html` is false). Anything else is 404. */
export function siteRoutes(options: { v2: boolean; html?: boolean }): Route[] {
  return requestPatterns
    .filter((p) => (options.v2 || !p.v2) && (options.html !== false || !p.html))
    .map((p) => ({
      ...serving[p.kind],
      pattern: p.pattern,
      files: p.files,
      v2: p.v2,
      repo: p.repo,
      ...(p.glob !== undefined ? { pathGlob: p.glob } : {}),
      ...(p.digest !== undefined ? { digest: { captures: p.digest } } : {}),
    }))
}

/** Substitute `$1`… in a template with regex captures. */
export function expandCaptures(template: string, captures: ArrayLike<string | undefined>): string {
  return template.replace(/\$(\d)/g, (_, n: string) => captures[Number(n)] ?? '')
}

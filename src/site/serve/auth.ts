import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { urlOf } from '../map.js'
import { CacheControl } from './routes.js'

const V2_BASE = urlOf({ kind: 'v2-base' })

/**
 * HTTP Basic authentication for a published site (`--auth-basic FILE`, `--auth-path PREFIX`):
 * the options, which paths they protect, and what a refused request gets. The nginx config
 * (nginx-auth.ts) and the preview server (serve-auth.ts) both read this, so they answer alike.
 */
export interface SiteAuthInput {
  /** `--auth-basic FILE`: an htpasswd file (bcrypt, {SHA} or apr1). */
  authBasic?: string
  /** `--auth-path PREFIX` (repeatable): protect only these URI prefixes; none means the whole site. */
  authPath?: string | string[]
  /** The realm browsers and clients show; defaults to the site's host. */
  authRealm?: string
  host: string
  cwd?: string
}

/** Normalised authentication settings. */
export interface SiteAuth {
  /** The htpasswd file, absolute. */
  userFile: string
  realm: string
  /** Protected URI prefixes, sorted; empty: the whole site. */
  prefixes: string[]
  /**
   * Protected exact paths. With any /v2/ prefix protected: the /v2/ base, which registry clients
   * ping first and whose answer alone tells them to send credentials (skopeo, podman and docker
   * never send any to a registry whose /v2/ said 200), and the catalog, which names the private
   * repositories. Anonymous pulls of the public repositories still work after a 401 ping.
   */
  exact: string[]
}

/** The exact paths that --auth-path /v2/… protects too (see SiteAuth.exact). */
export const V2_ENTRY_PATHS = [V2_BASE.replace(/\/$/, ''), V2_BASE, urlOf({ kind: 'catalog' })]

/** The distribution spec's error body for a request without valid credentials. */
export const UNAUTHORIZED_BODY = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] })

/** What paths outside /v2/ answer instead. */
export const UNAUTHORIZED_TEXT = 'authentication required\n'

/**
 * A realm goes into nginx's `auth_basic "…"` (where `$` starts a variable and "off" turns
 * authentication off) and into the quoted `realm="…"` of the header: printable ASCII without
 * `"`, `\` or `$`.
 */
function checkRealm(realm: string): string {
  if (!/^[\x20-\x7e]{1,200}$/.test(realm) || /["\\$]/.test(realm) || realm.trim().toLowerCase() === 'off') {
    throw new OcisiteError('CONFIG_INVALID', `--auth-realm ${JSON.stringify(realm)}: use 1 to 200 printable ASCII characters without '"', '\\' or '$' (and not "off")`, { realm })
  }
  return realm
}

/**
 * A prefix is matched against the decoded, normalised request path, as nginx's `$uri` and
 * `ocisite serve` see it: so it is written the same way (`/v2/private/`, `/oci-index/private`),
 * from the characters of image paths and tags.
 */
function checkPrefix(prefix: string): string {
  const segments = prefix.split('/').slice(1)
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(prefix) || prefix.includes('//') || segments.some((s) => s === '.' || s === '..')) {
    throw new OcisiteError('CONFIG_INVALID', `--auth-path ${JSON.stringify(prefix)}: a prefix starts with "/" and holds letters, digits and . _ ~ - / (no "//", "." or ".." segments)`, { prefix })
  }
  return prefix
}

/** Check and normalise the options; undefined when authentication is off. */
export function normalizeSiteAuth(input: SiteAuthInput): SiteAuth | undefined {
  const prefixes = [input.authPath ?? []].flat()
  if (!input.authBasic) {
    if (prefixes.length > 0) throw new OcisiteError('CONFIG_INVALID', '--auth-path needs --auth-basic FILE (the users who may read those paths)', {})
    if (input.authRealm !== undefined) throw new OcisiteError('CONFIG_INVALID', '--auth-realm needs --auth-basic FILE', {})
    return undefined
  }
  const checked = [...new Set(prefixes.map(checkPrefix))].sort()
  // "/" is every path: the same as no prefix (and keeps ACME challenges open).
  const whole = checked.length === 0 || checked.includes('/')
  return {
    userFile: path.resolve(input.cwd ?? process.cwd(), input.authBasic),
    realm: checkRealm(input.authRealm ?? input.host),
    prefixes: whole ? [] : checked,
    exact: !whole && checked.some((p) => p.startsWith(V2_BASE)) ? V2_ENTRY_PATHS : [],
  }
}

/** Whether a decoded, normalised request path needs credentials. */
export function isProtected(uriPath: string, auth: SiteAuth): boolean {
  return auth.prefixes.length === 0 || auth.exact.includes(uriPath) || auth.prefixes.some((p) => uriPath.startsWith(p))
}

/** The `WWW-Authenticate` value. */
export function challengeHeader(auth: SiteAuth): string {
  return `Basic realm="${auth.realm}"`
}

/** The 401 for a request without valid credentials: JSON on /v2/ routes, text elsewhere. */
export function unauthorizedResponse(auth: SiteAuth, v2: boolean): { status: 401; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {
    'WWW-Authenticate': challengeHeader(auth),
    'Access-Control-Allow-Origin': '*',
    'Cache-Control': CacheControl.none,
    'Content-Type': v2 ? 'application/json' : 'text/plain',
  }
  if (v2) headers['Docker-Distribution-API-Version'] = 'registry/2.0'
  return { status: 401, headers, body: v2 ? UNAUTHORIZED_BODY : UNAUTHORIZED_TEXT }
}

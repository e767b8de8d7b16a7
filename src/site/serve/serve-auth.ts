import { createHmac, randomBytes } from 'node:crypto'
import { isProtected, unauthorizedResponse, type SiteAuth } from './auth.js'
import { loadHtpasswd, verifyPassword, type HtpasswdEntry } from './htpasswd.js'
import { normalizeUriPath } from './route-resolver.js'
import type { Route } from './routes.js'

/** What the preview server should answer instead of the file: a 401, or nothing (go on). */
export type AuthRefusal = ReturnType<typeof unauthorizedResponse>

/** Checks a request's credentials for `ocisite serve`, as the generated nginx config does. */
export type AuthGuard = (request: { url?: string | undefined; headers: { authorization?: string | undefined } }) => Promise<AuthRefusal | undefined>

/** Most remembered successful checks: bcrypt costs ~0.1 s a check in JS, and a pull makes many requests. */
const MAX_REMEMBERED = 1024

/** Any bcrypt hash: compared against for unknown users, so they take as long as known ones. */
const DUMMY = { kind: 'bcrypt' as const, hash: '$2b$10$321b0hdcVk2ZGnne1RNKL./Ia3xBMV5WZH3Prp9yuLE1Lbv0BVyke' }

/** `Basic base64(user:password)` → user and password; undefined when malformed. */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header ?? '')
  if (!m) return undefined
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * A guard over loaded htpasswd entries. Paths outside the protected prefixes pass; a protected
 * path needs a user of the file and their password, else it gets the 401 (JSON on /v2/ routes,
 * text elsewhere, as nginx answers). Successful checks are remembered in memory by a hash of
 * user and password (keyed per process), never written anywhere.
 */
export function createAuthGuard(auth: SiteAuth, users: Map<string, HtpasswdEntry>, routes: Route[]): AuthGuard {
  const remembered = new Set<string>()
  const pepper = randomBytes(32) // the memory holds no plain hash of a password
  const matchers = routes.map((r) => ({ re: new RegExp(r.pattern), v2: r.v2 }))
  return async (request) => {
    const uri = normalizeUriPath(request.url ?? '/')
    // A malformed path is answered 400 by the route resolver, and one no route serves 404, as
    // nginx's catch-all does before any check: neither reaches a file.
    const route = uri === undefined ? undefined : matchers.find((m) => m.re.test(uri))
    if (uri === undefined || !route || !isProtected(uri, auth)) return undefined
    const refuse = () => unauthorizedResponse(auth, route.v2)
    const given = parseBasicAuthorization(request.headers.authorization)
    if (!given) return refuse()
    const key = createHmac('sha256', pepper).update(`${given.user}\0${given.password}`).digest('hex')
    if (remembered.has(key)) return undefined
    const entry = users.get(given.user)
    const ok = await verifyPassword(given.password, entry ?? DUMMY)
    if (!entry || !ok) return refuse()
    if (remembered.size >= MAX_REMEMBERED) remembered.clear()
    remembered.add(key)
    return undefined
  }
}

/** Load `--auth-basic FILE` and make the guard for `ocisite serve`. */
export async function loadAuthGuard(auth: SiteAuth, routes: Route[]): Promise<AuthGuard> {
  return createAuthGuard(auth, await loadHtpasswd(auth.userFile), routes)
}

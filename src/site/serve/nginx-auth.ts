import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OcisiteError } from '../../errors.js'
import { UNAUTHORIZED_BODY, UNAUTHORIZED_TEXT, type SiteAuth } from './auth.js'
import { CacheControl } from './routes.js'

/** The partial's file and the name the main template includes it by. */
export const authPartialFile = fileURLToPath(new URL('../../../templates/nginx-auth.hbs', import.meta.url))
export const authPartialName = 'nginx-auth'

/**
 * What templates/nginx-auth.hbs reads, as `@root.auth` of the main template (false: no
 * authentication, and the partial renders nothing). The main template includes it twice:
 *
 *     {{> nginx-auth server=true}}                  in the server block, before the locations
 *     {{> nginx-auth location=true v2=this.v2}}     in every route's location block
 *
 * The second is needed because nginx gives a location that sets any error_page of its own (the
 * /v2/ routes set `error_page 404`) none of the server's.
 */
export interface NginxAuthContext {
  whole: boolean
  /** ACME challenges stay open under whole-site authentication (certbot's webroot must reach them). */
  acme: boolean
  realm: string
  /** The htpasswd file as a quoted nginx string. */
  userFile: string
  /** An anchored PCRE alternation of the exact paths and prefixes, for `if ($uri ~ "…")`. */
  prefixPattern: string
  prefixList: string
  v2Body: string
  /** The text body as an nginx double-quoted string's content (newline escaped). */
  textBody: string
  noStore: string
}

/** A path as an nginx string: quoted; nginx has no escape for `$`, and a quote or backslash would need one. */
function quotePath(p: string, what: string): string {
  if (/["\\$]/.test(p) || /\p{Cc}/u.test(p)) {
    throw new OcisiteError('CONFIG_INVALID', `${what} ${JSON.stringify(p)}: nginx cannot take a path with a quote, backslash, "$" or control character; choose another path`, { path: p })
  }
  return `"${p}"`
}

/** A prefix (already checked: letters, digits, `._~-/`) as a PCRE literal. */
function pcreLiteral(prefix: string): string {
  return prefix.replace(/[.]/g, '\\.')
}

// The bodies go into nginx strings verbatim: single quotes for JSON, double for the text.
if (/['\\$]/.test(UNAUTHORIZED_BODY) || /["\\$]/.test(UNAUTHORIZED_TEXT)) throw new Error('an unauthorized body cannot be quoted for nginx')

/** The partial's context for a site's authentication settings (false when it has none). */
export function nginxAuthContext(auth: SiteAuth | undefined, site: { acme: boolean }): NginxAuthContext | false {
  if (!auth) return false
  return {
    whole: auth.prefixes.length === 0,
    acme: site.acme,
    realm: auth.realm,
    userFile: quotePath(auth.userFile, '--auth-basic'),
    prefixPattern: `^(${[...auth.exact.map((p) => `${pcreLiteral(p)}$`), ...auth.prefixes.map(pcreLiteral)].join('|')})`,
    prefixList: [...auth.exact, ...auth.prefixes.map((p) => `${p}*`)].join(', '),
    v2Body: UNAUTHORIZED_BODY,
    textBody: UNAUTHORIZED_TEXT.replace(/\n/g, '\\n'),
    noStore: CacheControl.none,
  }
}

/** Register the partial on a Handlebars instance (the one renderNginx compiles the main template with). */
export async function registerAuthPartial(hbs: { registerPartial(name: string, partial: string): void }): Promise<void> {
  hbs.registerPartial(authPartialName, await fs.readFile(authPartialFile, 'utf8'))
}

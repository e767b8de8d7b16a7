/**
 * Scrubbing credentials out of text before it is shown: error messages, verbose logs, events.
 * Two nets: patterns (URL userinfo, Authorization headers, the secret fields of auth files and
 * helper answers, token query parameters), and the exact values of every credential this process
 * has loaded (a Credential registers itself), so a password echoed in a server's error body or a
 * helper's message is caught too. Imports nothing of ours, so the HTTP layer can use it as is.
 */

export const REDACTED = '***'

/** Shorter values are not scrubbed by value (they would turn every message into stars); patterns still apply. */
export const MIN_SECRET_LENGTH = 4

const known = new Set<string>()

/** Remember values to scrub from all later output of this process (a Credential calls this). */
export function registerSecrets(values: Iterable<string>): void {
  for (const v of values) if (v.length >= MIN_SECRET_LENGTH) known.add(v)
}

const TOKEN = "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*"

const patterns: Array<[RegExp, string | ((...m: string[]) => string)]> = [
  // scheme://userinfo@host: up to the last "@" before the path (a raw "@" in a password is common).
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s"'<>]*@/gi, `$1${REDACTED}@`],
  // Authorization / Proxy-Authorization as a header line, an object key or a JSON member: keep the scheme.
  [
    new RegExp(`\\b((?:proxy-)?authorization)(["']?\\s*[:=]\\s*)(["']?)(?:(${TOKEN})(\\s+))?([^\\r\\n]*)`, 'gi'),
    (_m, name, sep, quote, scheme, space, rest) => {
      const end = quote ? rest!.indexOf(quote) : -1
      const tail = end >= 0 ? rest!.slice(end) : ''
      return `${name}${sep}${quote}${scheme ? `${scheme}${space}` : ''}${REDACTED}${tail}`
    },
  ],
  // The secret members of docker/containers auth files and of credential-helper answers.
  [/("(?:auth|password|passwd|secret|identitytoken|registrytoken)"\s*:\s*")(?:[^"\\]|\\.)*"/gi, `$1${REDACTED}"`],
  // Tokens in query strings (presigned URLs keep their signature: that is not ours to hide).
  [/([?&](?:password|passwd|access_token|token)=)[^&#\s"']*/gi, `$1${REDACTED}`],
]

/**
 * Scrub credentials from a message. `secrets` adds values to scrub in this call only (any length
 * but empty); the values registered by loaded credentials are always scrubbed.
 */
export function redact(text: string, secrets: Iterable<string> = []): string {
  let out = text
  for (const [re, replacement] of patterns) out = out.replace(re, replacement as string)
  const values = [...new Set([...known, ...secrets])].filter((v) => v.length > 0).sort((a, b) => b.length - a.length)
  for (const v of values) out = out.split(v).join(REDACTED)
  return out
}

/** A copy of request or response headers fit for a verbose log: credential-bearing values replaced. */
export function redactHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (lower === 'authorization' || lower === 'proxy-authorization') {
      const scheme = typeof value === 'string' ? /^\S+(?=\s)/.exec(value)?.[0] : undefined
      out[name] = scheme ? `${scheme} ${REDACTED}` : REDACTED
    } else if (lower === 'cookie' || lower === 'set-cookie') out[name] = REDACTED
    else out[name] = Array.isArray(value) ? value.map((v) => redact(v)) : value === undefined ? undefined : redact(value)
  }
  return out
}

/** A URL without its userinfo, for logs and messages. */
export function redactUrl(url: string | URL): string {
  const u = new URL(url.toString())
  if (u.username || u.password) {
    u.username = REDACTED
    u.password = ''
  }
  return u.toString()
}

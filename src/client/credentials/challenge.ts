import net from 'node:net'
import { OcisiteError } from '../../errors.js'

/**
 * `WWW-Authenticate` (RFC 7235 §4.1) and the rules for when credentials may go out. The npm
 * parsers read one challenge per header (http-auth-utils, auth-header), while a 401 may list
 * several (`Bearer realm=…, Basic realm=…`) in one header or many, so this is a small parser of
 * the RFC grammar. Imports nothing of ours but errors, so the HTTP layer can use it as is.
 */
export interface Challenge {
  /** The auth-scheme as sent; compare it case-insensitively. */
  scheme: string
  /** auth-params, names lower-cased (they are case-insensitive); the first of a repeated name wins. */
  params: Record<string, string>
  /** The token68 form (`Negotiate abc==`), when the challenge has one instead of params. */
  token68?: string
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y

class Reader {
  pos = 0
  constructor(readonly text: string) {}
  fail(why: string): never {
    throw new OcisiteError('PROTOCOL', `malformed WWW-Authenticate header: ${why} at character ${this.pos + 1}`, {})
  }
  get done(): boolean {
    return this.pos >= this.text.length
  }
  peek(): string {
    return this.text[this.pos] ?? ''
  }
  skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++
  }
  /** Skip OWS and empty list elements (`#rule` allows `, ,`). */
  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.pos++
  }
  token(): string {
    const start = this.pos
    while (TCHAR.test(this.peek())) this.pos++
    return this.text.slice(start, this.pos)
  }
  quoted(): string {
    this.pos++ // the opening quote
    let value = ''
    for (;;) {
      if (this.done) this.fail('a quoted string is not closed')
      const c = this.text[this.pos++]!
      if (c === '"') return value
      if (c === '\\') {
        if (this.done) this.fail('a quoted string is not closed')
        value += this.text[this.pos++]
      } else value += c
    }
  }
  /** At a token followed by BWS "=": an auth-param, not the next challenge's scheme. */
  atParam(): boolean {
    const save = this.pos
    const name = this.token()
    this.skipOws()
    const isParam = name !== '' && this.peek() === '='
    this.pos = save
    return isParam
  }
  /** A token68 ends the challenge: it is followed only by OWS, then a comma or the end. */
  token68(): string | undefined {
    TOKEN68.lastIndex = this.pos
    const m = TOKEN68.exec(this.text)
    if (!m) return undefined
    let after = this.pos + m[0].length
    while (this.text[after] === ' ' || this.text[after] === '\t') after++
    if (after < this.text.length && this.text[after] !== ',') return undefined
    this.pos += m[0].length
    return m[0]
  }
}

function readParams(r: Reader, params: Record<string, string>): void {
  for (;;) {
    const name = r.token().toLowerCase()
    if (name === '') r.fail('expected an auth-param name')
    r.skipOws()
    if (r.peek() !== '=') r.fail(`expected "=" after "${name}"`)
    r.pos++
    r.skipOws()
    const value = r.peek() === '"' ? r.quoted() : r.token()
    if (value === '' && r.text[r.pos - 1] !== '"') r.fail(`expected a value for "${name}"`)
    if (!(name in params)) params[name] = value
    r.skipOws()
    if (r.done) return
    if (r.peek() !== ',') r.fail('expected "," between auth-params')
    r.skipSeparators()
    if (r.done || !r.atParam()) return
  }
}

/** Parse one or more WWW-Authenticate header values (several headers are one comma-separated list). */
export function parseWwwAuthenticate(header: string | string[]): Challenge[] {
  const r = new Reader([header].flat().join(', '))
  const challenges: Challenge[] = []
  for (r.skipSeparators(); !r.done; r.skipSeparators()) {
    const scheme = r.token()
    if (scheme === '') r.fail('expected an auth-scheme')
    const challenge: Challenge = { scheme, params: {} }
    challenges.push(challenge)
    if (r.done || r.peek() === ',') continue
    if (r.peek() !== ' ' && r.peek() !== '\t') r.fail(`expected a space after "${scheme}"`)
    r.skipOws()
    if (r.done || r.peek() === ',') continue
    const t68 = r.token68()
    if (t68 !== undefined) challenge.token68 = t68
    else readParams(r, challenge.params)
  }
  return challenges
}

/** The first Basic challenge of a 401, if one is offered. */
export function basicChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme.toLowerCase() === 'basic')
}

const loopback = new net.BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')

/** localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x.x.x), as URL.hostname gives them. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (host === 'localhost' || host === 'localhost.') return true
  const family = net.isIP(host)
  return family !== 0 && loopback.check(host, family === 6 ? 'ipv6' : 'ipv4')
}

export interface AuthPolicyOptions {
  /** `--insecure-auth`: allow Basic over plain HTTP to hosts that are not loopback. */
  insecureAuth?: boolean
}

/** Whether to answer a 401 with credentials, and if not, why (for the error message). */
export type SendDecision =
  | { send: true; realm: string | undefined }
  | { send: false; reason: 'no-challenge' | 'not-basic' | 'plain-http' | 'not-http' }

/**
 * Call on a 401 only, with its WWW-Authenticate value(s). Credentials go out only when a
 * challenge names Basic, and never over plain HTTP unless the host is loopback or
 * `insecureAuth` is set. A malformed header throws PROTOCOL (the server broke the protocol).
 */
export function shouldSend(url: string | URL, challenge: string | string[] | Challenge[] | undefined, options: AuthPolicyOptions = {}): SendDecision {
  const u = new URL(url.toString())
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return { send: false, reason: 'not-http' }
  const challenges = challenge === undefined ? [] : typeof challenge === 'string' || typeof challenge[0] === 'string' ? parseWwwAuthenticate(challenge as string | string[]) : (challenge as Challenge[])
  if (challenges.length === 0) return { send: false, reason: 'no-challenge' }
  const basic = basicChallenge(challenges)
  if (!basic) return { send: false, reason: 'not-basic' }
  if (u.protocol === 'http:' && !isLoopback(u.hostname) && !options.insecureAuth) return { send: false, reason: 'plain-http' }
  return { send: true, realm: basic.params.realm }
}

/** scheme, host and effective port: two URLs with the same origin may share credentials. */
function origin(u: URL): string {
  const port = u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '')
  return `${u.protocol}//${u.hostname.toLowerCase()}:${port}`
}

/**
 * Whether credentials sent to `fromUrl` may also go to `toUrl` (a redirect): only to the same
 * scheme, host and port. A CDN, a bucket, another port or a downgrade to http gets none.
 */
export function mayForward(fromUrl: string | URL, toUrl: string | URL): boolean {
  return origin(new URL(fromUrl.toString())) === origin(new URL(toUrl.toString()))
}

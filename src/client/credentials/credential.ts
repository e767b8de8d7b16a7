import { inspect } from 'node:util'
import { OcisiteError } from '../../errors.js'
import { registerSecrets } from './redact.js'

/**
 * A username and password for HTTP Basic, and where they came from ("--user",
 * "~/.docker/config.json", …) for error messages. The password is a private field: it never
 * shows in JSON.stringify, util.inspect or an error's context, only through `password` and
 * `authorization()`.
 */
export class Credential {
  readonly #password: string

  constructor(
    readonly username: string,
    password: string,
    /** Where it came from, for messages: "~/.docker/config.json", "docker-credential-pass (credsStore in …)". */
    readonly source: string,
  ) {
    checkBasicPart(username, 'username', source)
    checkBasicPart(password, 'password', source)
    if (username.includes(':')) {
      throw new OcisiteError('CONFIG_INVALID', `the username from ${source} contains ":", which HTTP Basic cannot carry (RFC 7617)`, { source })
    }
    this.#password = password
    // From here on, any text passed through redact() is scrubbed of this password.
    registerSecrets(this.secrets())
  }

  get password(): string {
    return this.#password
  }

  /** The Authorization header value: `Basic base64(user:password)`, UTF-8 (RFC 7617). */
  authorization(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`, 'utf8').toString('base64')}`
  }

  /** Strings that must never appear in output: the password, the header's token, the auth files' `auth`. */
  secrets(): string[] {
    const token = this.authorization().slice('Basic '.length)
    const encoded = encodeURIComponent(this.#password)
    return [...new Set([this.#password, token, encoded].filter((s) => s.length > 0))]
  }

  toJSON(): Record<string, string> {
    return { username: this.username, password: '***', source: this.source }
  }

  [inspect.custom](): string {
    return `Credential { username: ${JSON.stringify(this.username)}, password: '***', source: ${JSON.stringify(this.source)} }`
  }

  toString(): string {
    return `credentials from ${this.source}`
  }
}

/** RFC 7617 forbids control characters in both parts; a stray newline from a file is the usual one. */
function checkBasicPart(value: string, what: string, source: string): void {
  if (/\p{Cc}/u.test(value)) {
    throw new OcisiteError('CONFIG_INVALID', `the ${what} from ${source} contains a control character (a stray newline?); HTTP Basic cannot carry it`, { source })
  }
}

/** The server a credential is looked up for: the scheme, host and port of a URL, and the image path if known. */
export interface CredentialTarget {
  scheme: 'http' | 'https'
  /** Lower case; an IPv6 address in brackets, as URL.hostname has it. */
  host: string
  port: number
  /** The image path on that host (`private/app`), for auth files keyed by `host/namespace`. */
  repository?: string
}

const defaultPorts = { http: 80, https: 443 } as const

/** The target for a URL (http or https only). */
export function targetOf(url: string | URL, repository?: string): CredentialTarget {
  const u = typeof url === 'string' ? new URL(url) : url
  const scheme = u.protocol.slice(0, -1)
  if (scheme !== 'http' && scheme !== 'https') {
    throw new OcisiteError('PROTOCOL', `${u.protocol}//${u.host}: credentials are only sent over http or https`, { url: u.origin })
  }
  const port = u.port === '' ? defaultPorts[scheme] : Number(u.port)
  return { scheme, host: u.hostname.toLowerCase(), port, ...(repository ? { repository: repository.replace(/^\/+|\/+$/g, '') } : {}) }
}

/** `host` or `host:port` the way docker names a registry: the port only when it is not the scheme's default. */
export function registryHostname(target: CredentialTarget): string {
  return target.port === defaultPorts[target.scheme] ? target.host : `${target.host}:${target.port}`
}

/** `host:port` always, for messages and for per-origin bookkeeping. */
export function authority(target: CredentialTarget): string {
  return `${target.host}:${target.port}`
}

/** A key of an auth file, taken apart: `https://host:5000/v1/`, `host:5000`, `host/namespace`. */
export interface AuthKey {
  scheme?: 'http' | 'https'
  host: string
  port?: number
  /** The namespace after the host, without slashes at either end ('' for none). */
  path: string
}

/** Parse an auth-file key; undefined when it is not a host (such keys are skipped, as docker does). */
export function parseAuthKey(key: string): AuthKey | undefined {
  const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^/:[\]\s]+)(?::(\d{1,5}))?(\/.*)?$/i.exec(key.trim())
  if (!m) return undefined
  const [, scheme, host = '', port, rest = ''] = m
  return {
    ...(scheme ? { scheme: scheme.toLowerCase() as 'http' | 'https' } : {}),
    host: host.toLowerCase(),
    ...(port ? { port: Number(port) } : {}),
    path: rest.replace(/^\/+|\/+$/g, ''),
  }
}

/**
 * Whether a key names the target's host and port. A key without a port means the default port of
 * its own scheme, or of the target's when it has none (`example.com` is example.com:443 for an
 * https site, example.com:80 for an http one).
 */
export function keyMatchesHost(key: AuthKey, target: CredentialTarget): boolean {
  if (key.host !== target.host) return false
  const port = key.port ?? defaultPorts[key.scheme ?? target.scheme]
  return port === target.port
}

/**
 * How well a namespaced key (containers' `host/ns/repo`) fits the target's repository: the length
 * of the matching path (more specific wins), 0 for a host-only key, -1 for no match.
 */
export function keyPathScore(key: AuthKey, target: CredentialTarget): number {
  if (key.path === '') return 0
  const repo = target.repository
  if (!repo) return -1
  return repo === key.path || repo.startsWith(`${key.path}/`) ? key.path.length : -1
}

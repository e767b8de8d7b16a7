// What the command files share: typed reading of the parsed flags, and the option groups that
// several commands declare alike (copying into a site, discovery for client commands).
import type { CAC, Command } from 'cac'
import { OcisiteError } from '../errors.js'
import { defaultMinSpeed } from '../http/client.js'
import { defaultConcurrency } from '../content/copy.js'
import type { CliIo } from './output.js'

/** A command file: registers its command (help, examples, options) and its action. */
export type RegisterCommand = (cli: CAC, io: CliIo) => void

/** `maxArchiveSize` → `--max-archive-size`, for messages. */
export const flagName = (name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

function invalid(message: string): OcisiteError {
  return new OcisiteError('CONFIG_INVALID', message)
}

/** `8G`, `512M`, `1024`: a size in bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim())
  if (!m) throw invalid(`${flag} ${text}: use a size such as 8G, 512M or 1048576`)
  return Math.floor(Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()))
}

/** `24h`, `30m`, `7d`, `90s`, `0`: a duration in milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim())
  if (!m) throw invalid(`${flag} ${text}: use a duration such as 24h, 30m, 7d or 0`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase() as 'ms']
  return Number(m[1]) * unit
}

/**
 * The flags of one command line, as the argv reader left them (every value the exact text
 * typed, an array when repeated; booleans true, or false for `--no-…`), read through typed
 * converters that name the flag at fault. An absent flag is undefined: defaults are the core's.
 */
export class Flags {
  constructor(readonly raw: Record<string, unknown>) {}

  /** A boolean flag given (`--json`). */
  on(name: string): boolean {
    return this.raw[name] === true
  }

  /** A `--no-…` flag given: false; otherwise undefined, so the core's default (or a config file) decides. */
  negated(name: string): false | undefined {
    return this.raw[name] === false ? false : undefined
  }

  /** Every value of a repeatable text flag, as typed. */
  list(name: string): string[] | undefined {
    const v = this.raw[name]
    return v === undefined ? undefined : [v].flat().map(String)
  }

  /** A text flag given at most once, as typed (`--tag 1.10` stays "1.10"). */
  text(name: string): string | undefined {
    const all = this.list(name)
    if (all && all.length > 1) throw invalid(`${flagName(name)} is given ${all.length} times; give it once`)
    return all?.[0]
  }

  /** A text flag that must be there. */
  required(name: string, why: string): string {
    const v = this.text(name)
    if (v === undefined) throw invalid(`${flagName(name)} is required: ${why}`)
    return v
  }

  /** A whole number above 0 (`--concurrency 8`). */
  positiveInt(name: string): number | undefined {
    const text = this.text(name)
    if (text === undefined) return undefined
    const n = Number(text)
    if (!(/^\d+$/.test(text.trim()) && Number.isInteger(n) && n > 0)) throw invalid(`${flagName(name)} ${text} must be a positive whole number`)
    return n
  }

  /** A number above 0, fractions allowed (`--speed-time 0.5`). */
  positive(name: string): number | undefined {
    const text = this.text(name)
    if (text === undefined) return undefined
    const n = Number(text)
    if (!(text.trim() !== '' && Number.isFinite(n) && n > 0)) throw invalid(`${flagName(name)} ${text} must be a positive number`)
    return n
  }

  /** A TCP port, 1-65535 (0 too, for a server told to pick a free one). */
  port(name: string, lowest = 1): number | undefined {
    const text = this.text(name)
    if (text === undefined) return undefined
    const n = Number(text)
    if (!(/^\d+$/.test(text.trim()) && n >= lowest && n < 65536)) throw invalid(`${flagName(name)} ${text} is not a port number`)
    return n
  }

  size(name: string): number | undefined {
    const text = this.text(name)
    return text === undefined ? undefined : parseSize(text, flagName(name))
  }

  duration(name: string): number | undefined {
    const text = this.text(name)
    return text === undefined ? undefined : parseDuration(text, flagName(name))
  }

  /** Repeated `KEY=VALUE` pairs (`--annotation k=v`); the value may hold "=". */
  keyValues(name: string): Record<string, string> {
    const out: Record<string, string> = {}
    for (const pair of this.list(name) ?? []) {
      const at = pair.indexOf('=')
      if (at <= 0) throw invalid(`${flagName(name)} ${pair}: use KEY=VALUE`)
      out[pair.slice(0, at)] = pair.slice(at + 1)
    }
    return out
  }
}

/** The site directory every site-editing command needs. */
export const siteDir = (f: Flags) => f.required('site', 'the site directory (made by ocisite build)')

/** What build and add share: how blobs are copied in, and waiting for the site's lock. */
export function withCopyOptions(command: Command): Command {
  return command
    .option('--max-archive-size <size>', 'Largest uncompressed input archive, in bytes or with K, M, G (default 8G)')
    .option('--concurrency <n>', `Blobs copied at once (default ${defaultConcurrency}, from the CPU count)`)
    .option('--verify', 'Re-hash every blob, trusting no cached verification (.ocisite/verified.json)')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
}

export function copyValues(f: Flags): { verify: boolean; concurrency?: number; maxArchiveSize?: number; wait?: boolean } {
  return { verify: f.on('verify'), concurrency: f.positiveInt('concurrency'), maxArchiveSize: f.size('maxArchiveSize'), wait: f.negated('wait') }
}

/** What build, add and sign take to sign what they publish. */
export function withSignOptions(command: Command, staging = true): Command {
  if (staging) command.option('--signatures <dir>', 'Publish the containers signatures of this lookaside staging tree (<repository>@sha256=<hex>/signature-<n>, as skopeo writes it) at /signatures/')
  return command
    .option('--sign-by <fingerprint>', 'Sign every published manifest with this gpg key, as skopeo copy --sign-by does (served at /signatures/)')
    .option('--sign-key <file>', 'Sign every published manifest with this cosign key (PEM: ECDSA P-256, RSA, Ed25519, or cosign\'s encrypted key; passphrase from $COSIGN_PASSWORD)')
    .option('--passphrase-file <file>', 'The key\'s passphrase is the first line of this file (instead of $COSIGN_PASSWORD)')
    .option('--sign-format <format>', 'Cosign schemes: tag (sha256-<hex>.sig), bundle (a referrer) or both (default both)')
}

export function signValues(f: Flags): { signatures?: string; signBy?: string; signKey?: string; passphraseFile?: string; signFormat?: string } {
  const values = { signatures: f.text('signatures'), signBy: f.text('signBy'), signKey: f.text('signKey'), passphraseFile: f.text('passphraseFile'), signFormat: f.text('signFormat') }
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined))
}

/** What every command that reaches a server takes: where a host connects, which TLS certificates are trusted. */
export function withConnectOptions(command: Command): Command {
  return command
    .option('--resolve <host:port:address>', 'Connect to ADDRESS when a URL names HOST:PORT (as curl --resolve; HOST=ADDRESS for every port); repeatable')
    .option('--cacert <file>', 'Also trust the CA certificates in this PEM file (as curl --cacert, but added to the default CAs)')
    .option('--insecure', 'Do not check TLS certificates (a warning is printed)')
    .option('--user <user>', 'Username for sites that ask for HTTP Basic credentials (the password comes from --password-stdin)')
    .option('--password-stdin', 'Read the password for --user from standard input')
    .option('--insecure-auth', 'Send credentials over plain HTTP to hosts that are not loopback')
}

/** The sites the names on a command line are on, for each --protocol and --port: `--user` goes to these only. */
export function namedSites(names: string[], protocols: string[], port: number | undefined): string[] {
  return names.flatMap((name) => protocols.map((p) => `${p}://${name.split(/[/#@]/)[0]}${port ? `:${port}` : ''}`))
}

/** --user with --password-stdin, every other credential source, and --insecure-auth, as the HTTP client's authenticator. */
async function authOptions(f: Flags, sites: string[]) {
  const { credentialAuthenticator, explicitCredential, readPasswordStdin } = await import('../client/credentials/index.js')
  const user = f.text('user')
  if (f.on('passwordStdin') && user === undefined) throw invalid('--password-stdin needs --user USER')
  if (user !== undefined && !f.on('passwordStdin')) throw invalid('--user needs --password-stdin (pipe the password in: printf %s "$TOKEN" | ocisite … --user USER --password-stdin)')
  const explicit = user === undefined ? undefined : explicitCredential(user, await readPasswordStdin(process.stdin))
  return credentialAuthenticator({ sites: sites.filter((s) => URL.canParse(s)), insecureAuth: f.on('insecureAuth'), ...(explicit ? { explicit } : {}) })
}

/** The connection flags as the client core takes them: --resolve rules, the --cacert files read, --insecure. */
export async function connectOptions(f: Flags, io: CliIo, sites: string[]) {
  const { parseResolveRule, readCaFile } = await import('../http/connect.js')
  const resolveHosts = Object.fromEntries((f.list('resolve') ?? []).map(parseResolveRule))
  const ca = (await Promise.all((f.list('cacert') ?? []).map(readCaFile))).flat()
  if (f.on('insecure')) io.stderr.write('ocisite: warning: --insecure: TLS certificates are not checked, so anyone on the network path can answer for the server\n')
  const auth = await authOptions(f, sites)
  return { resolveHosts, ...(ca.length ? { ca } : {}), ...(f.on('insecure') ? { insecure: true } : {}), auth }
}

/** The discovery options every client command shares (resolve, pull, pack --subject, get, lock). */
export function withDiscoveryOptions(command: Command): Command {
  return withConnectOptions(command.option('--protocol <scheme>', 'https (default) or http; repeat to try several, in order').option('--port <port>', 'Port for the well-known URI'))
    .option('--verbose', 'Report every discovery attempt on stderr')
    .option('--speed-limit <bytes>', `Abandon a transfer slower than this many bytes/s over --speed-time (default ${defaultMinSpeed.bytesPerSecond})`)
    .option('--speed-time <seconds>', `The window for --speed-limit (default ${defaultMinSpeed.seconds})`)
}

/** The discovery and connection flags as the client core takes them. */
export async function clientOptions(f: Flags, io: CliIo, names: string[]) {
  const protocols = f.list('protocol') ?? ['https']
  for (const p of protocols) if (p !== 'https' && p !== 'http') throw invalid(`--protocol ${p}: use https or http`)
  const minSpeed = { bytesPerSecond: f.positive('speedLimit') ?? defaultMinSpeed.bytesPerSecond, seconds: f.positive('speedTime') ?? defaultMinSpeed.seconds }
  const port = f.port('port')
  return { protocols: protocols as Array<'https' | 'http'>, port, platform: f.text('platform'), minSpeed, ...(await connectOptions(f, io, namedSites(names, protocols, port))) }
}

/** The signature policy flags of the client commands that fetch (resolve, pull, get, lock). */
export function withTrustOptions(command: Command): Command {
  return command
    .option('--policy <file>', "Require signatures: containers' policy.json or doco-cd's trust policy (default $XDG_CONFIG_HOME/ocisite/policy.json, if it exists)")
    .option('--registries-d <dir>', "containers' registries.d naming the lookaside (default $CONTAINERS_REGISTRIES_D, ~/.config/containers/registries.d or /etc/containers/registries.d; without one, the site's /signatures/)")
}

/** The signature policy flags as the client core takes them. */
export function trustValues(f: Flags): { policy?: string; registriesD?: string } {
  const policy = f.text('policy')
  const registriesD = f.text('registriesD')
  return { ...(policy !== undefined ? { policy } : {}), ...(registriesD !== undefined ? { registriesD } : {}) }
}

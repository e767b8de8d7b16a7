import dns from 'node:dns'
import { X509Certificate } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import tls from 'node:tls'
import { OcisiteError } from '../errors.js'

/** How connections are made: which address a host name reaches, and which TLS certificates are trusted. */
export interface ConnectOptions {
  /**
   * Host → address overrides, as curl's --resolve: a key `host:port` applies to that port only,
   * a key `host` to every port. A value is an address, or several separated by commas.
   */
  resolveHosts?: Record<string, string>
  /** PEM CA certificates trusted besides the default ones (Node's bundled CAs and NODE_EXTRA_CA_CERTS). */
  ca?: string[]
  /** Skip TLS certificate verification (curl's --insecure). */
  insecure?: boolean
}

/**
 * One `--resolve` rule: curl's `HOST:PORT:ADDRESS[,ADDRESS]...`, or `HOST=ADDRESS` (any port).
 * Returns the key and value for `resolveHosts`.
 */
export function parseResolveRule(text: string): [key: string, addresses: string] {
  const curl = /^([^:=[\]\s]+):(\d+):(.+)$/.exec(text)
  const plain = curl ? undefined : /^([^:=[\]\s]+)=(.+)$/.exec(text)
  const host = (curl?.[1] ?? plain?.[1])?.toLowerCase()
  const list = curl?.[3] ?? plain?.[2]
  if (!host || !list) throw new OcisiteError('CONFIG_INVALID', `--resolve ${text}: use HOST:PORT:ADDRESS (as curl's --resolve), or HOST=ADDRESS for every port`)
  const port = curl ? Number(curl[2]) : undefined
  if (port !== undefined && !(port > 0 && port < 65536)) throw new OcisiteError('CONFIG_INVALID', `--resolve ${text}: port ${curl![2]} is not a port number`)
  const addresses = list.split(',').map((a) => a.trim().replace(/^\[(.*)\]$/, '$1'))
  const bad = addresses.find((a) => isIP(a) === 0)
  if (bad !== undefined) throw new OcisiteError('CONFIG_INVALID', `--resolve ${text}: "${bad}" is not an IP address`)
  return [port === undefined ? host : `${host}:${port}`, addresses.join(',')]
}

/** The `lookup` that applies `resolveHosts` to a connection to `url`, if a rule matches it. */
export function lookupFor(opts: ConnectOptions, url: URL): LookupFunction | undefined {
  const map = opts.resolveHosts
  if (!map) return undefined
  const host = url.hostname.toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  const rule = map[`${host}:${port}`] ?? map[host]
  if (!rule) return undefined
  const addresses = rule.split(',').map((address) => ({ address, family: isIP(address) }))
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    if (hostname.toLowerCase() !== host) return dns.lookup(hostname, options, callback as never)
    if (options.all) callback(null, addresses)
    else callback(null, addresses[0]!.address, addresses[0]!.family)
  }) as LookupFunction
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificates of a PEM CA bundle (`--cacert FILE`), each checked to parse as X.509. */
export async function readCaFile(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new OcisiteError('INPUT_NOT_FOUND', `--cacert ${file}: no such file`, { file }, { cause: err })
    if (err.code === 'EISDIR') throw new OcisiteError('CONFIG_INVALID', `--cacert ${file} is a directory; name a PEM file of CA certificates`, { file }, { cause: err })
    throw err
  })
  const blocks = text.match(PEM_BLOCK) ?? []
  if (blocks.length === 0) throw new OcisiteError('CONFIG_INVALID', `--cacert ${file}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`, { file })
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem)
    } catch (err) {
      throw new OcisiteError('CONFIG_INVALID', `--cacert ${file}: certificate ${i + 1} is not valid (${(err as Error).message})`, { file }, { cause: err })
    }
  }
  return blocks
}

/** The CAs Node trusts by default: its bundled ones, and those of NODE_EXTRA_CA_CERTS. */
function defaultCas(): string[] {
  const extra = process.env.NODE_EXTRA_CA_CERTS
  if (!extra) return [...tls.rootCertificates]
  try {
    return [...tls.rootCertificates, ...(readFileSync(extra, 'utf8').match(PEM_BLOCK) ?? [])]
  } catch (err) {
    // Node itself warns about a missing file at start-up, and goes on without it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [...tls.rootCertificates]
    throw err
  }
}

/** One agent per CA list: its secure context is made once, and its kept-alive connections are its own. */
const agents = new WeakMap<string[], https.Agent>()

/** The TLS options of an https request. */
export function tlsOptionsFor(opts: ConnectOptions): https.RequestOptions {
  if (opts.insecure) return { rejectUnauthorized: false }
  if (!opts.ca || opts.ca.length === 0) return {}
  let agent = agents.get(opts.ca)
  if (!agent) {
    // As Node's global agent: connections kept alive, closed after 5 s idle.
    agent = new https.Agent({ keepAlive: true, timeout: 5000, secureContext: tls.createSecureContext({ ca: [...defaultCas(), ...opts.ca] }) })
    agents.set(opts.ca, agent)
  }
  return { agent }
}

/** Certificate failures a CA certificate can fix. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED'])
/** Certificate failures no CA fixes: the certificate itself is wrong for this use. */
const WRONG_CERT = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE'])

/**
 * What a failed connection means, in words (OpenSSL's own text names a C function and a source
 * line). `plainHttp` is set when an https URL reached a server that answers in plain HTTP.
 */
export function describeConnectError(err: NodeJS.ErrnoException, url: URL): { message: string; plainHttp?: true } {
  const code = err.code ?? ''
  if (url.protocol === 'https:' && /wrong version number|packet length too long|http request/i.test(err.message) && (code === 'EPROTO' || code.startsWith('ERR_SSL'))) {
    return { message: `the server speaks plain HTTP, not HTTPS (use --protocol http)`, plainHttp: true }
  }
  if (UNTRUSTED.has(code)) return { message: `TLS certificate not trusted: ${err.message} (pass --cacert FILE with the CA that signed it, or --insecure to skip the check)` }
  if (WRONG_CERT.has(code)) return { message: `TLS certificate refused: ${err.message} (--insecure skips the check)` }
  return { message: err.message }
}

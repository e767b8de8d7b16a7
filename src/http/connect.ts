import dns from 'node:dns'
import { X509Certificate } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
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
export function defaultCas(): string[] {
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

/** Certificate failures a CA certificate can fix. */
const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED'])
/** Certificate failures no CA fixes: the certificate itself is wrong for this use. */
const WRONG_CERT = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE'])

/**
 * What a failed connection means, in words (OpenSSL's own text names a C function and a source
 * line). `plainHttp` is set when an https URL reached a server that answers in plain HTTP.
 */
export function describeConnectError(err: NodeJS.ErrnoException, url: URL, timeoutMs = 30_000): { message: string; plainHttp?: true } {
  const code = err.code ?? ''
  if (url.protocol === 'https:' && /wrong version number|packet length too long|http request/i.test(err.message) && (code === 'EPROTO' || code.startsWith('ERR_SSL'))) {
    return { message: `the server speaks plain HTTP, not HTTPS (use --protocol http)`, plainHttp: true }
  }
  if (UNTRUSTED.has(code)) return { message: `TLS certificate not trusted: ${err.message} (pass --cacert FILE with the CA that signed it, or --insecure to skip the check)` }
  if (WRONG_CERT.has(code)) return { message: `TLS certificate refused: ${err.message} (--insecure skips the check)` }
  return { message: describeTransferError(err, timeoutMs) }
}

/** What a failed transfer means, in words: undici's errors are named for its internals. */
export function describeTransferError(err: NodeJS.ErrnoException, timeoutMs: number): string {
  const seconds = timeoutMs / 1000
  switch (err.code) {
    case 'UND_ERR_SOCKET':
      return err.message === 'other side closed' ? 'the server closed the connection before the answer was complete' : err.message
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no connection within ${seconds} s`
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no answer within ${seconds} s`
    case 'UND_ERR_BODY_TIMEOUT':
      return `no data for ${seconds} s`
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'the response head is too large'
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'the body does not match its Content-Length'
    default:
      return err.message
  }
}

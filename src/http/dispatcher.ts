import type { OnReadOpts } from 'node:net'
import tls from 'node:tls'
import type { Dispatcher } from 'undici'
import { defaultCas, lookupFor, type ConnectOptions } from './connect.js'

/** A secure context per CA list, made once (parsing Node's bundled CAs takes a while). */
const contexts = new WeakMap<string[], tls.SecureContext>()
const caListIds = new WeakMap<string[], number>()
let caLists = 0

/** The TLS options of a connection: as Node trusts, plus `ca`, or no check with `insecure`. */
function tlsOptionsFor(opts: ConnectOptions): tls.ConnectionOptions {
  if (opts.insecure) return { rejectUnauthorized: false }
  if (!opts.ca || opts.ca.length === 0) return {}
  let secureContext = contexts.get(opts.ca)
  if (!secureContext) {
    secureContext = tls.createSecureContext({ ca: [...defaultCas(), ...opts.ca] })
    contexts.set(opts.ca, secureContext)
  }
  return { secureContext }
}

/** The most a plain-HTTP socket reads at once, and the least room a read is given. */
const SLAB = 2 * 1024 * 1024
const MIN_READ = 64 * 1024

/**
 * Plain-HTTP socket reads of up to 2 MiB, where Node reads 64 KiB at a time: a GiB then costs
 * hundreds of reads and parser calls instead of 16,384, which halves the main thread's time.
 * Each read goes into the free end of a 2 MiB slab (a new one when less than 64 KiB is left) and
 * is pushed to the socket's stream as Node would push it, so undici reads it as ever. (Node
 * calls `buffer` right after each `callback`, on the same stack: `next` never crosses sockets.)
 */
function largeReads(): OnReadOpts {
  let next: Buffer | undefined
  return {
    buffer: () => {
      const room = next ?? Buffer.allocUnsafe(SLAB)
      next = undefined
      return room
    },
    callback(this: { push(chunk: Buffer): boolean }, n: number, buf: Uint8Array) {
      const read = buf as Buffer
      next = read.byteLength - n >= MIN_READ ? read.subarray(n) : undefined
      return this.push(read.subarray(0, n))
    },
  }
}

/** One dispatcher per way of connecting, so that its kept-alive connections serve every request made that way. */
const dispatchers = new Map<string, Promise<Dispatcher>>()

/**
 * The undici dispatcher that connects as `opts` say: `resolveHosts` is applied per origin (a rule
 * may name a port), the CAs and `insecure` to every TLS connection, and `timeoutMs` to connecting.
 * (undici is loaded on the first request: commands that make none do not pay for it.)
 */
export function dispatcherFor(opts: ConnectOptions & { timeoutMs?: number }): Promise<Dispatcher> {
  if (opts.ca && !caListIds.has(opts.ca)) caListIds.set(opts.ca, ++caLists)
  const key = JSON.stringify([opts.resolveHosts ?? null, opts.ca ? caListIds.get(opts.ca) : 0, opts.insecure === true, opts.timeoutMs ?? null])
  let dispatcher = dispatchers.get(key)
  if (!dispatcher) {
    dispatcher = import('undici').then(({ Agent, Pool, buildConnector }) => {
      const timeout = opts.timeoutMs ?? 30_000
      const tlsOptions = tlsOptionsFor(opts)
      return new Agent({
        factory: (origin, options) => {
          const url = new URL(origin)
          const lookup = lookupFor(opts, url)
          const connect = url.protocol === 'http:' ? buildConnector({ timeout, ...(lookup ? { lookup } : {}), onread: largeReads() }) : { timeout, ...tlsOptions, ...(lookup ? { lookup } : {}) }
          return new Pool(origin, { ...options, connect })
        },
      })
    })
    dispatchers.set(key, dispatcher)
  }
  return dispatcher
}

import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { promises as fs } from 'node:fs'
import httpServer from 'http-server'
import { serveDefaults } from '../../defaults.js'
import { OcisiteError } from '../../errors.js'
import { resolveRequest } from './route-resolver.js'
import { siteRoutes } from './routes.js'
import { pathOf } from '../map.js'
import { SitePaths } from '../site-paths.js'
import { unlessMissing } from '../../fs/missing.js'
import { normalizeSiteAuth } from './auth.js'
import { loadAuthGuard, type AuthGuard } from './serve-auth.js'


/** One request answered by the preview server. */
export interface ServedRequest {
  method: string
  /** The path and query as the client sent them. */
  path: string
  status: number
  /** Body bytes sent (0 for HEAD and for an aborted response's unsent rest). */
  bytes: number
}

export interface ServeOptions {
  dir?: string
  port?: number
  host?: string
  /** Called once per request, when its response is finished or the connection closed. */
  onRequest?: (request: ServedRequest) => void
  /** Ask for HTTP Basic credentials of this htpasswd file's users, as the nginx config does (--auth-basic). */
  authBasic?: string
  /** Only these URI prefixes need credentials (--auth-path); none: the whole site. */
  authPath?: string[]
  /** The realm (default: the listening address). */
  authRealm?: string
  cwd?: string
}

/** A running preview server. */
export interface RunningServer {
  url: string
  port: number
  close(): Promise<void>
}

/** Make the file server send our Content-Type and Cache-Control, whatever its own guess. */
function forceHeaders(res: ServerResponse, headers: Record<string, string>): void {
  const forced = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  const setHeader = res.setHeader.bind(res)
  res.setHeader = (name: string, value: number | string | readonly string[]) => setHeader(name, forced.get(name.toLowerCase()) ?? value)
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: Record<string, unknown>) => ServerResponse
  res.writeHead = ((status: number, h?: Record<string, unknown>) => {
    const merged: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(h ?? {})) merged[k] = forced.get(k.toLowerCase()) ?? v
    return writeHead(status, merged)
  }) as ServerResponse['writeHead']
}

/** Count each response's body bytes and report it when done; runs before http-server rewrites the URL. */
function reportRequests(server: Server, onRequest: (request: ServedRequest) => void): void {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    let bytes = 0
    const count = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      else if (chunk instanceof Uint8Array) bytes += chunk.byteLength
    }
    const write = res.write.bind(res) as (...args: unknown[]) => boolean
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse
    res.write = ((chunk: unknown, ...rest: unknown[]) => (count(chunk, rest[0]), write(chunk, ...rest))) as ServerResponse['write']
    res.end = ((chunk?: unknown, ...rest: unknown[]) => (typeof chunk !== 'function' && count(chunk, rest[0]), end(chunk, ...rest))) as ServerResponse['end']
    // Reported when the response is handed to the system, or when its connection closes first.
    let reported = false
    const report = () => {
      if (reported) return
      reported = true
      onRequest({ method: req.method ?? 'GET', path, status: res.statusCode, bytes: req.method === 'HEAD' ? 0 : bytes })
    }
    res.once('finish', report)
    res.once('close', report)
  })
}

/** The guard's 401 as a body answer, or undefined to serve the request. */
async function guarded(guard: AuthGuard | undefined, req: IncomingMessage) {
  const refusal = await guard?.({ url: req.url, headers: { authorization: req.headers.authorization } })
  return refusal ? { kind: 'body' as const, ...refusal } : undefined
}

/** Preview a built site with http-server, answering with the same routes and headers as the nginx config. */
export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const site = new SitePaths(options.dir ?? serveDefaults.dir)
  const wellKnown = pathOf({ kind: 'well-known' })
  if (!(await unlessMissing(fs.stat(site.abs(wellKnown))))) {
    throw new OcisiteError('INPUT_NOT_FOUND', `${site.root}: not a built site (no ${wellKnown}); run ocisite build first`, { file: site.root })
  }
  const v2 = !!(await unlessMissing(fs.stat(site.abs(pathOf({ kind: 'v2-base' })))))
  const routes = siteRoutes({ v2 })
  const auth = normalizeSiteAuth({ host: options.host ?? serveDefaults.host, authBasic: options.authBasic, authPath: options.authPath, authRealm: options.authRealm, cwd: options.cwd })
  const guard = auth ? await loadAuthGuard(auth, routes) : undefined
  const server = httpServer.createServer({
    root: site.root,
    showDir: false,
    autoIndex: false,
    showDotfiles: true,
    cache: -1 as unknown as number,
    before: [
      (req, res) => {
        guarded(guard, req).then((refusal) => (refusal ? refusal : resolveRequest(site, routes, req.url ?? '/'))).then(
          (r) => {
            if (r.kind === 'body') {
              res.writeHead(r.status, { ...r.headers, 'Content-Length': Buffer.byteLength(r.body) })
              res.end(req.method === 'HEAD' ? undefined : r.body)
              return
            }
            forceHeaders(res, r.headers)
            req.url = r.file
            res.emit('next')
          },
          (err: unknown) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' })
            res.end(`internal error: ${(err as Error).message}\n`)
          },
        )
      },
    ],
  })
  if (options.onRequest) reportRequests(server.server, options.onRequest)
  const host = options.host ?? serveDefaults.host
  const hostPart = host.includes(':') ? `[${host}]` : host
  const wanted = options.port ?? serveDefaults.port
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', (err: NodeJS.ErrnoException) => {
      // A port in use, one that needs privileges, or an address this machine does not have.
      const why = { EADDRINUSE: 'the address is already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'this machine has no such address' }[err.code ?? '']
      reject(why ? new OcisiteError('LISTEN_FAILED', `cannot listen on ${hostPart}:${wanted}: ${why}`, { host, port: wanted }, { cause: err }) : err)
    })
    server.listen(wanted, host, () => resolve())
  })
  const address = server.server.address()
  const port = typeof address === 'object' && address ? address.port : wanted
  return {
    url: `http://${hostPart}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // http-server's own close() drops its callback; close the node server underneath.
        server.server.close(() => resolve())
        server.server.closeAllConnections()
      }),
  }
}

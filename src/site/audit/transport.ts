import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { createDigester, digestOf } from '../../oci/digest.js'
import { httpGet, readCapped, type HttpOptions } from '../../http/client.js'
import { hashFile } from '../../content/ingest/verify.js'
import { loadPublished, type Published } from '../write/published.js'
import { resolveRequest } from '../serve/route-resolver.js'
import { siteRoutes } from '../serve/routes.js'
import { entryOf, pathOf, siteDirs, urlOf } from '../map.js'
import { SitePaths } from '../site-paths.js'
import { unlessMissing } from '../../fs/missing.js'
import type { Answer, Transport } from './answer.js'
import type { BucketOptions } from '../../content/bucket-store.js'
import { bucketPublished, bucketTransport, listBucketIndexes, openBucket } from './bucket-transport.js'

// How the audit commands (verify, ls, inspect) read a site: a live URL over HTTP, a site
// directory answered exactly as `serve` and the generated nginx config would answer, or a bucket
// read by key (bucket-transport.ts). One transport, so every command sees the same site
// whatever the source.

export type { Answer, Transport } from './answer.js'

/**
 * GET `url`: the answer of a 200, undefined for a 404, and for any other status the error that
 * `refused(status)` words (the answer is discarded either way).
 */
export async function getFound(transport: Transport, url: string, accept: string | undefined, refused: (status: number) => Error): Promise<Answer | undefined> {
  const answer = await transport.request(url, 'GET', accept)
  if (answer.status === 200) return answer
  answer.discard()
  if (answer.status === 404) return undefined
  throw refused(answer.status)
}

export function httpTransport(target: string, opts: HttpOptions): Transport {
  const wellKnown = new URL(urlOf({ kind: 'well-known' }), target).toString()
  return {
    wellKnown,
    display: (url) => url,
    async request(url, method, accept = '*/*') {
      const res = await httpGet(url, accept, opts, method).catch((err: unknown) => {
        // verify has no --protocol: the scheme to change is the URL's.
        if (!(err instanceof OcisiteError && err.context.plainHttp)) throw err
        const plain = new URL(url)
        const port = plain.port || '443'
        plain.protocol = 'http:'
        plain.port = port
        throw new OcisiteError('NETWORK', `${method} ${url}: the server speaks plain HTTP, not HTTPS (verify ${plain.origin} instead)`, err.context, { cause: err })
      })
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
      return {
        status: res.status,
        headers,
        bytes: (limit) => readCapped(res, limit, () => `GET ${url}: over ${limit} bytes`),
        async hash(algorithm) {
          const h = createDigester(algorithm)
          let size = 0
          for await (const c of res.body) {
            size += c.byteLength
            h.update(c)
          }
          return { size, hex: h.digest('hex') }
        },
        discard: () => res.body.destroy(),
      }
    },
  }
}

/** Answers from a site directory exactly as `serve` and the generated nginx config give them. */
export function directoryTransport(site: SitePaths, v2: boolean): Transport {
  const routes = siteRoutes({ v2 })
  const origin = 'http://site.invalid'
  return {
    wellKnown: `${origin}${urlOf({ kind: 'well-known' })}`,
    display: (url) => (url.startsWith(origin) ? url.slice(origin.length) : url),
    async request(url) {
      const u = new URL(url)
      const r = await resolveRequest(site, routes, `${u.pathname}${u.search}`)
      const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
      if (r.kind === 'body') {
        const body = Buffer.from(r.body)
        return { status: r.status, headers: { ...lower(r.headers), 'content-length': String(body.byteLength) }, bytes: async () => body, hash: async (a) => ({ size: body.byteLength, hex: digestOf(body, a).split(':')[1]! }), discard: () => undefined }
      }
      const file = site.abs(r.file.replace(/^\/+/, ''))
      const st = await fs.stat(file)
      return {
        status: 200,
        headers: { ...lower(r.headers), 'content-length': String(st.size) },
        async bytes(limit) {
          if (st.size > limit) throw new OcisiteError('PROTOCOL', `${r.file}: over ${limit} bytes`)
          return fs.readFile(file)
        },
        hash: (algorithm) => hashFile(file, algorithm),
        discard: () => undefined,
      }
    },
  }
}

/** A site to read: the transport; for a directory or a bucket, its images (by its index files) and its record (when it has one). */
export interface OpenedSite {
  transport: Transport
  site?: SitePaths
  published?: Published
  /** The image paths, from the index files themselves (a directory's, or one listing of a bucket's index folder). */
  images?: () => Promise<string[]>
}

/** How the audit commands reach a site: HTTP, and for `s3://BUCKET[/PREFIX]`, deploy's connection options. */
export type AuditOptions = HttpOptions & { cwd?: string; bucket?: BucketOptions }

/** Open TARGET: an `http(s)://` URL, `s3://BUCKET[/PREFIX]` (read by key), or a site directory (relative to `cwd`). */
export async function openTransport(target: string, options: AuditOptions): Promise<OpenedSite> {
  if (/^https?:\/\//i.test(target)) return { transport: httpTransport(target, options) }
  if (/^s3:\/\//i.test(target)) {
    const bucket = openBucket(target, options.bucket ?? {})
    const published = await bucketPublished(bucket)
    return { transport: bucketTransport(bucket), images: () => listBucketIndexes(bucket), ...(published ? { published } : {}) }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    throw new OcisiteError('CONFIG_INVALID', `${target}: give a site's URL (http:// or https://), a bucket (s3://BUCKET[/PREFIX]), or a site directory`, { target })
  }
  const site = new SitePaths(path.resolve(options.cwd ?? process.cwd(), target))
  const wellKnown = pathOf({ kind: 'well-known' })
  if (!(await unlessMissing(fs.stat(site.abs(wellKnown))))) {
    throw new OcisiteError('INPUT_NOT_FOUND', `${site.root}: not a built site (no ${wellKnown})`, { file: site.root })
  }
  // A copy of the served files only (no record of ocisite's) is still a site to read.
  const published = await loadPublished(site).catch((err: unknown) => {
    if (err instanceof OcisiteError && err.code === 'NOT_A_SITE') return undefined
    throw err
  })
  const v2 = published?.settings.v2 ?? !!(await unlessMissing(fs.stat(site.abs(pathOf({ kind: 'v2-base' })))))
  return { transport: directoryTransport(site, v2), site, images: () => listIndexFiles(site), ...(published ? { published } : {}) }
}

/** The images a site directory serves: every index file. */
async function listIndexFiles(site: SitePaths): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const e of (await unlessMissing(fs.readdir(site.abs(rel), { withFileTypes: true }))) ?? []) {
      const child = `${rel}/${e.name}`
      const entry = e.isFile() ? entryOf(child) : undefined
      if (e.isDirectory()) await walk(child)
      else if (entry?.kind === 'index') out.push(entry.repo)
    }
  }
  await walk(siteDirs.index)
  return out.sort()
}

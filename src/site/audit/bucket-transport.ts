import { createDigester } from '../../oci/digest.js'
import { OcisiteError } from '../../errors.js'
import { Bucket, parseBucketUrl, type BucketOptions, type StoredObject } from '../../content/bucket-store.js'
import { bucketKeyOf, entryOfKey, entryOfUrl, siteDirs, urlOf } from '../map.js'
import { readHead, readRecord } from '../bucket/record.js'
import type { Published } from '../write/published.js'
import type { Answer, Transport } from './answer.js'

/** Website redirects followed at most, as an HTTP client follows them. */
const MAX_REDIRECTS = 10
const ORIGIN = 'http://bucket.invalid'

/** The key a request path reads, as a bucket's website endpoint maps it: the site map's key, else the path (a directory's index document). */
function keyOfPath(raw: string): string {
  const pathname = decodeURIComponent(raw)
  const entry = entryOfUrl(pathname)
  if (entry) return bucketKeyOf(entry)
  const key = pathname.replace(/^\/+/, '')
  return key === '' || key.endsWith('/') ? `${key}index.html` : key
}

/** An answer from a stored object: the headers the bucket keeps, and the body (GET). */
function answerOf(o: StoredObject, where: string): Answer {
  const headers: Record<string, string> = { 'content-length': String(o.size) }
  if (o.contentType) headers['content-type'] = o.contentType
  if (o.cacheControl) headers['cache-control'] = o.cacheControl
  const body = o.body
  return {
    status: 200,
    headers,
    async bytes(limit) {
      if (o.size > limit) {
        body?.destroy()
        throw new OcisiteError('PROTOCOL', `${where}: over ${limit} bytes`)
      }
      const chunks: Buffer[] = []
      for await (const c of body ?? []) chunks.push(c as Buffer)
      return Buffer.concat(chunks)
    },
    async hash(algorithm) {
      const h = createDigester(algorithm)
      let size = 0
      for await (const c of body ?? []) {
        size += (c as Buffer).byteLength
        h.update(c as Buffer)
      }
      return { size, hex: h.digest('hex') }
    },
    discard: () => body?.destroy(),
  }
}

const notFound: Answer = { status: 404, headers: {}, bytes: async () => Buffer.alloc(0), hash: async () => ({ size: 0, hex: '' }), discard: () => undefined }

/**
 * Answers from a bucket's objects, read by key (the site map's `bucketKeyOf`), with the headers
 * the bucket keeps for them: what its website endpoint or a CDN in front would send. Website
 * redirects (a blob's /v2/ URL) are followed, as an HTTP client follows them.
 */
export function bucketTransport(bucket: Bucket): Transport {
  const display = (url: string) => `${bucket.where.url.replace(/\/+$/, '')}/${keyOfPath(new URL(url).pathname)}`
  return {
    wellKnown: `${ORIGIN}${urlOf({ kind: 'well-known' })}`,
    display,
    async request(url, method) {
      let at = new URL(url, ORIGIN)
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const o = await bucket.object(keyOfPath(at.pathname), method)
        if (!o) return notFound
        if (o.redirect === undefined) return answerOf(o, display(at.toString()))
        o.body?.destroy()
        at = new URL(o.redirect, at)
      }
      throw new OcisiteError('PROTOCOL', `${display(url)}: more than ${MAX_REDIRECTS} website redirects`, { url })
    },
  }
}

/** The images a bucket site serves: one listing of its index folder (never the whole bucket). */
export async function listBucketIndexes(bucket: Bucket): Promise<string[]> {
  const out: string[] = []
  for (const key of (await bucket.listUnder(`${siteDirs.index}/`)).keys()) {
    const entry = entryOfKey(key)
    if (entry?.kind === 'index') out.push(entry.repo)
  }
  return out.sort()
}

/** What a bucket site's newest generation publishes, once its documents are all out (undefined: no record, or a write under way). */
export async function bucketPublished(bucket: Bucket): Promise<Published | undefined> {
  const head = await readHead(bucket)
  if (head.generation === 0 || !head.done) return undefined
  return (await readRecord(bucket, head.generation))?.published
}

/** Open `s3://BUCKET[/PREFIX]` for reading. */
export function openBucket(target: string, options: BucketOptions): Bucket {
  return new Bucket(parseBucketUrl(target), options)
}

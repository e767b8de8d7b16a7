import { OcisiteError } from '../../errors.js'
import { canonicalBytes } from '../../oci/json.js'
import type { Bucket } from '../../content/bucket-store.js'
import { bucketState, recordKeyOf } from '../map.js'
import { parsePublished, publishedDoc, type Published } from '../write/published.js'

/** A blob the site no longer references, and since when (prune removes it once older than its grace period). */
export interface Unreferenced {
  digest: string
  size: number
  since: string
}

/**
 * One generation of a bucket site's record: what the site publishes (as `.ocisite/site.json`
 * of a directory), the blobs waiting for prune, and the bytes of every manifest and index it
 * publishes, so the next writer plans without reading them one by one. All of it is public:
 * the documents are served by the site, and the rest is what its indexes and tag lists say.
 */
export interface SiteRecord {
  generation: number
  published: Published
  unreferenced: Unreferenced[]
  documents: Map<string, Buffer>
  /** The fingerprint (headers and a hash of the bytes) of each HTML page file it publishes, by site path: unchanged pages are kept, not rendered again. */
  pages: Map<string, string>
}

/** The newest generation (0: none), whether its documents are all out, and when it was written. */
export interface RecordHead {
  generation: number
  done: boolean
  modified?: Date
  /** Whether the generation before it still exists. */
  previous: boolean
}

const MAX_RECORD_BYTES = 512 * 1024 * 1024

/** One listing of the record folder (never of the bucket). */
export async function readHead(bucket: Bucket): Promise<RecordHead> {
  const listed = await bucket.listUnder(bucketState.records)
  let head: RecordHead = { generation: 0, done: false, previous: false }
  const done = new Set<number>()
  const present = new Set<number>()
  for (const [key, o] of listed) {
    const r = recordKeyOf(key)
    if (!r) continue
    if (r.done) done.add(r.generation)
    else present.add(r.generation)
    if (!r.done && r.generation > head.generation) head = { generation: r.generation, done: false, previous: false, ...(o.modified ? { modified: o.modified } : {}) }
  }
  return { ...head, done: done.has(head.generation), previous: present.has(head.generation - 1) }
}

export async function readRecord(bucket: Bucket, generation: number): Promise<SiteRecord | undefined> {
  const key = bucketState.record(generation)
  const bytes = await bucket.read(key, MAX_RECORD_BYTES)
  if (!bytes) return undefined
  const where = `${bucket.where.url}/${key}`
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  } catch (err) {
    throw new OcisiteError('STATE_INVALID', `${where}: the site record is not JSON`, { file: where }, { cause: err })
  }
  if (doc.version !== 1 || doc.generation !== generation || typeof doc.documents !== 'object' || !Array.isArray(doc.unreferenced)) {
    throw new OcisiteError('STATE_INVALID', `${where}: not a version-1 site record of generation ${generation}`, { file: where })
  }
  const published = parsePublished(Buffer.from(JSON.stringify(doc.site)), where)
  const documents = new Map(Object.entries(doc.documents as Record<string, string>).map(([d, b64]) => [d, Buffer.from(b64, 'base64')]))
  const unreferenced = (doc.unreferenced as Unreferenced[]).filter((u) => typeof u?.digest === 'string' && typeof u.size === 'number' && typeof u.since === 'string')
  const pages = new Map(Object.entries(typeof doc.pages === 'object' && doc.pages !== null ? (doc.pages as Record<string, unknown>) : {}).filter((e): e is [string, string] => typeof e[1] === 'string'))
  return { generation, published, unreferenced, documents, pages }
}

export function recordBytes(record: SiteRecord): Buffer {
  const documents = Object.fromEntries([...record.documents].sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, bytes]) => [d, bytes.toString('base64')]))
  const pages = Object.fromEntries([...record.pages].sort(([a], [b]) => (a < b ? -1 : 1)))
  return canonicalBytes({ version: 1, generation: record.generation, site: publishedDoc(record.published), unreferenced: record.unreferenced, documents, ...(record.pages.size > 0 ? { pages } : {}) })
}

/** Put-if-absent of generation n: false when another writer took that number first. */
export function commitRecord(bucket: Bucket, record: SiteRecord): Promise<boolean> {
  return bucket.create(bucketState.record(record.generation), recordBytes(record), { contentType: 'application/json', cacheControl: 'no-store' })
}

export async function markDone(bucket: Bucket, generation: number): Promise<void> {
  await bucket.create(bucketState.done(generation), Buffer.alloc(0), { cacheControl: 'no-store' })
}

/**
 * Does the endpoint honour `If-None-Match: *`? Two PUTs of one fresh key: the second must fail
 * with 412. A store that ignores the precondition (s3rver, some gateways) lets both through.
 */
export async function probePreconditions(bucket: Bucket, id: string, staleAfterMs: number): Promise<boolean> {
  await removeStaleProbes(bucket, staleAfterMs)
  const key = bucketState.probe(id)
  await bucket.create(key, Buffer.from('probe\n'))
  const second = await bucket.create(key, Buffer.from('probe\n'))
  await bucket.remove([key])
  return !second
}

/**
 * Probe keys a killed writer left behind, once older than `ms` (the lease): a younger one may be
 * another writer's, between its two PUTs, and deleting it would fail that writer's probe.
 */
async function removeStaleProbes(bucket: Bucket, ms: number): Promise<void> {
  const now = Date.now()
  const stale = [...(await bucket.listUnder(bucketState.probes))].filter(([, o]) => o.modified !== undefined && now - o.modified.getTime() >= ms).map(([key]) => key)
  if (stale.length > 0) await bucket.remove(stale)
}

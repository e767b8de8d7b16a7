import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { OcisiteError } from '../../errors.js'
import { canonicalBytes } from '../../oci/json.js'
import type { SitePlan } from '../plan/plan.js'
import { planObjects, type PlannedObject, type SiteSource } from '../serve/bucket-objects.js'
import { entryOf, pathOf } from '../map.js'
import type { SiteFiles } from '../write/documents.js'
import { expectedFiles, siteDocuments, type DocumentSettings } from '../write/site-files.js'

/** A planned object with its body (documents) or where a blob's bytes are (blobs). */
export interface BucketObject extends PlannedObject {
  body?: Buffer
  /** An input file that holds a blob's bytes. */
  origin?: string
  /** What decides whether the object in the bucket is this one: headers and a hash of the body. */
  fingerprint: string
}

/** The bytes of every manifest and index a plan publishes, by digest: known ones, then the inputs' files. */
export async function planDocuments(plan: SitePlan, known: Map<string, Buffer>): Promise<Map<string, Buffer>> {
  const origins = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, b.origin.file] as const] : [])))
  const out = new Map<string, Buffer>()
  const digests = [...plan.images.flatMap((i) => i.manifests.map((m) => m.digest.value)), ...plan.pending.map((p) => p.descriptor.digest)]
  for (const d of digests) {
    if (out.has(d)) continue
    const bytes = known.get(d) ?? (origins.has(d) ? await fs.readFile(origins.get(d)!) : undefined)
    if (bytes) out.set(d, bytes)
  }
  return out
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/**
 * Every object a bucket holding `plan` has, keyed, with headers from the same code as `deploy`
 * (serve/bucket-objects.ts). `documents` gives manifests' bytes by digest; `pages`, the HTML
 * pages rendered, and those kept as they are (by fingerprint, without bytes: never written).
 */
export async function bucketObjects(plan: SitePlan, settings: DocumentSettings, documents: Map<string, Buffer>, label: string, pages?: { documents: SiteFiles[]; kept: Map<string, string> }): Promise<Map<string, BucketObject>> {
  const { documents: groups, v2 } = siteDocuments(plan, settings, pages?.documents)
  const files = new Map<string, Buffer>()
  const sizes = new Map<string, number>()
  for (const b of v2?.blobs ?? []) documents.set(b.digest.value, b.bytes)
  for (const g of groups) {
    for (const [rel, bytes] of g.files) files.set(rel, bytes)
    for (const [rel, digest] of g.links) {
      const bytes = documents.get(digest.value)
      if (!bytes) throw new OcisiteError('BLOB_MISSING', `${label}: no bytes for ${digest.value}, which ${rel} names`, { digest: digest.value })
      files.set(rel, bytes)
    }
  }
  for (const b of plan.blobs) sizes.set(pathOf({ kind: 'blob', digest: b.digest }), b.size)
  const all = expectedFiles(plan, v2, groups)
  for (const rel of pages?.kept.keys() ?? []) all.add(rel)
  const origins = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, b.origin.file] as const] : [])))
  const blobBytes = (rel: string) => {
    const e = entryOf(rel)
    return e?.kind === 'blob' ? documents.get(e.digest.value) : undefined
  }
  const source: SiteSource = {
    label,
    files: all,
    size: async (rel) => files.get(rel)?.byteLength ?? blobBytes(rel)?.byteLength ?? sizes.get(rel) ?? 0,
    read: async (rel) => files.get(rel) ?? blobBytes(rel) ?? Buffer.alloc(0),
  }
  const out = new Map<string, BucketObject>()
  for (const o of await planObjects(source, all, 'index.html')) {
    const digest = o.entry.kind === 'blob' ? o.entry.digest.value : undefined
    const body = o.redirect !== undefined ? Buffer.alloc(0) : digest ? documents.get(digest) : files.get(o.file!)
    const kept = o.file !== undefined ? pages?.kept.get(o.file) : undefined
    const fingerprint = kept ?? (o.immutable ? o.key : sha(canonicalBytes({ t: o.contentType, c: o.cacheControl, r: o.redirect ?? '', m: o.metadata ?? {}, b: sha(body ?? Buffer.alloc(0)) })))
    out.set(o.key, { ...o, ...(body ? { body } : {}), ...(digest && origins.has(digest) ? { origin: origins.get(digest)! } : {}), fingerprint })
  }
  return out
}

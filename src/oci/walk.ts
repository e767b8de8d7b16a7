import { OcisiteError } from '../errors.js'
import { parseDescriptor, type Descriptor } from './descriptor.js'
import { parseJsonObject } from './json.js'
import { isIndexType, isManifestType, MediaType } from './media-types.js'

/** Where the walk reads blobs from: a layout, or (for the client) a remote CAS. */
export interface BlobSource {
  /** Verified bytes of a small JSON blob. */
  readJson(desc: Descriptor): Promise<Buffer>
  label: string
}

/** One node of a content DAG. Manifests and indexes carry their verified bytes. */
export interface DagNode {
  descriptor: Descriptor
  kind: 'index' | 'manifest' | 'blob'
  /** Media type after detection from the body where the descriptor omits it. */
  mediaType: string
  bytes?: Buffer
  body?: Record<string, unknown>
  children: Descriptor[]
  subject?: Descriptor
}

/** Should this descriptor be read as a manifest or index? Unknown types are opaque blobs. */
export function isDocumentDescriptor(desc: Descriptor): boolean {
  return isIndexType(desc.mediaType) || isManifestType(desc.mediaType) || desc.mediaType === ''
}

/** The media type of a manifest or index body, from its own field or its shape. */
export function detectMediaType(body: Record<string, unknown>, declared: string): string {
  if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType
  if (declared) return declared
  if (Array.isArray(body.manifests)) return MediaType.ociIndex
  if (body.config !== undefined || Array.isArray(body.layers)) return MediaType.ociManifest
  return ''
}

/** Read one document node and list its children (index entries, or config and layers). */
export async function readNode(source: BlobSource, desc: Descriptor): Promise<DagNode> {
  if (!isDocumentDescriptor(desc)) return { descriptor: desc, kind: 'blob', mediaType: desc.mediaType, children: [] }
  const bytes = await source.readJson(desc)
  const where = `${source.label}: ${desc.digest}`
  const body = parseJsonObject(bytes, where)
  const mediaType = detectMediaType(body, desc.mediaType)
  if (desc.mediaType && typeof body.mediaType === 'string' && body.mediaType !== desc.mediaType) {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor says ${desc.mediaType} but the document says ${body.mediaType}`, { digest: desc.digest })
  }
  const subject = body.subject === undefined ? undefined : parseDescriptor(body.subject, `${where} subject`)
  if (isIndexType(mediaType)) {
    if (!Array.isArray(body.manifests)) throw new OcisiteError('LAYOUT_INVALID', `${where}: index has no "manifests" array`, { digest: desc.digest })
    // An index entry without a media type is still a manifest or index: it is detected when read.
    const children = body.manifests.map((m, i) => parseDescriptor(m, `${where} manifests[${i}]`))
    return { descriptor: desc, kind: 'index', mediaType, bytes, body, children, ...(subject ? { subject } : {}) }
  }
  if (isManifestType(mediaType)) {
    if (body.config === undefined) throw new OcisiteError('LAYOUT_INVALID', `${where}: manifest has no "config"`, { digest: desc.digest })
    const config = parseDescriptor(body.config, `${where} config`)
    const layers = Array.isArray(body.layers) ? body.layers.map((l, i) => parseDescriptor(l, `${where} layers[${i}]`)) : []
    // Config and layers are opaque blobs even when their media type is empty.
    const opaque = [config, ...layers].map((d) => ({ ...d, mediaType: d.mediaType || MediaType.octetStream }))
    return { descriptor: desc, kind: 'manifest', mediaType, bytes, body, children: opaque, ...(subject ? { subject } : {}) }
  }
  return { descriptor: desc, kind: 'blob', mediaType: desc.mediaType, children: [] }
}

/**
 * Walk the DAG below `roots`, reading each document once. Returns every node keyed by digest,
 * in a deterministic order (depth-first, in document order).
 */
export async function walkDag(source: BlobSource, roots: Descriptor[], into = new Map<string, DagNode>()): Promise<Map<string, DagNode>> {
  const visit = async (desc: Descriptor): Promise<void> => {
    const seen = into.get(desc.digest)
    if (seen) {
      if (seen.descriptor.size !== desc.size) {
        throw new OcisiteError('SIZE_MISMATCH', `${source.label}: ${desc.digest} is described with sizes ${seen.descriptor.size} and ${desc.size}`, { digest: desc.digest })
      }
      return
    }
    const node = await readNode(source, desc)
    into.set(desc.digest, node)
    for (const child of node.children) await visit(child)
  }
  for (const root of roots) await visit(root)
  return into
}

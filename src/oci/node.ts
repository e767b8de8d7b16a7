import { OcisiteError } from '../errors.js'
import { parseDescriptor, type Descriptor } from './descriptor.js'
import { parseJsonObject } from './json.js'
import { isIndexType, isManifestType, MediaType } from './media-types.js'

/** One node of a content graph. Manifests and indexes carry their verified bytes and body. */
export interface GraphNode {
  descriptor: Descriptor
  kind: 'index' | 'manifest' | 'blob'
  /** The media type, detected from the body where the descriptor leaves it out (umoci). */
  mediaType: string
  bytes?: Buffer
  body?: Record<string, unknown>
  /** What it points at: an index's entries, or a manifest's config and layers. */
  children: Descriptor[]
  /** The manifest this one refers to (a signature, an SBOM), if any. */
  subject?: Descriptor
}

/** Is this descriptor read as a manifest or index? Unknown types are opaque blobs. */
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

/** An opaque blob: a node with no children. */
export function blobNode(desc: Descriptor): GraphNode {
  return { descriptor: desc, kind: 'blob', mediaType: desc.mediaType, children: [] }
}

/**
 * Parse a document's verified bytes into a node and list its successors (oras-go's
 * `content.Successors`): an index's entries, or a manifest's config and layers. `where` names
 * the document in errors.
 */
export function parseNode(desc: Descriptor, bytes: Buffer, where: string): GraphNode {
  const body = parseJsonObject(bytes, where)
  const mediaType = detectMediaType(body, desc.mediaType)
  if (desc.mediaType && typeof body.mediaType === 'string' && body.mediaType !== desc.mediaType) {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor says ${desc.mediaType} but the document says ${body.mediaType}`, { digest: desc.digest })
  }
  const subject = body.subject === undefined ? undefined : parseDescriptor(body.subject, `${where} subject`)
  const node = (kind: GraphNode['kind'], children: Descriptor[]): GraphNode => ({ descriptor: desc, kind, mediaType, bytes, body, children, ...(subject ? { subject } : {}) })
  if (isIndexType(mediaType)) {
    if (!Array.isArray(body.manifests)) throw new OcisiteError('LAYOUT_INVALID', `${where}: index has no "manifests" array`, { digest: desc.digest })
    // An entry without a media type is still a manifest or index: it is detected when read.
    return node('index', body.manifests.map((m, i) => parseDescriptor(m, `${where} manifests[${i}]`)))
  }
  if (isManifestType(mediaType)) {
    if (body.config === undefined) throw new OcisiteError('LAYOUT_INVALID', `${where}: manifest has no "config"`, { digest: desc.digest })
    const config = parseDescriptor(body.config, `${where} config`)
    const layers = Array.isArray(body.layers) ? body.layers.map((l, i) => parseDescriptor(l, `${where} layers[${i}]`)) : []
    // Config and layers are opaque blobs even when their media type is empty.
    return node('manifest', [config, ...layers].map((d) => ({ ...d, mediaType: d.mediaType || MediaType.octetStream })))
  }
  return blobNode(desc)
}

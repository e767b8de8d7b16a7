import picomatch from 'picomatch'
import { OcisiteError } from '../errors.js'
import { plainDescriptor, REF_NAME, tagFromRefName, type Descriptor, type Platform } from '../oci/descriptor.js'
import { parseDigest, type Digest } from '../oci/digest.js'
import { MAX_CONFIG_BYTES, parseJsonObject } from '../oci/json.js'
import type { OciLayout } from '../oci/layout.js'
import { isImageConfigType, manifestKindOf, type ManifestKind } from '../oci/media-types.js'
import { readNode, walkDag, type BlobSource, type DagNode } from '../oci/walk.js'
import type { LayoutInput } from './inputs.js'
import { checkTag } from './names.js'
import type { ProgressListener } from './progress.js'

/** A blob to store, and the layout it is copied from (verified as it is copied). */
export interface PlannedBlob {
  digest: Digest
  size: number
  file: string
  label: string
  layout: OciLayout
}

/** A manifest or index the site serves through /v2/. */
export interface PlannedManifest {
  digest: Digest
  size: number
  mediaType: string
  kind: ManifestKind
  artifactType?: string
  annotations?: Record<string, string>
  subject?: string
}

/** A published tag: the entry written into the image's oci-index document. */
export interface PlannedTag {
  tag: string
  entry: Descriptor
  label: string
}

export interface PlannedImage {
  path: string
  tags: PlannedTag[]
  /** Every manifest and index reachable from the tags, plus their referrers, by digest. */
  manifests: PlannedManifest[]
  /** Referrer descriptors by subject digest. */
  referrers: Map<string, Descriptor[]>
}

/** Everything a build will write, decided before any byte is written. */
export interface SitePlan {
  images: PlannedImage[]
  blobs: PlannedBlob[]
}

function layoutSource(layout: OciLayout): BlobSource {
  return { label: layout.label, readJson: (d) => layout.readBlob(d) }
}

async function platformOf(layout: OciLayout, node: DagNode): Promise<Platform | undefined> {
  const config = node.children[0]
  if (node.kind !== 'manifest' || !config || !isImageConfigType(config.mediaType)) return undefined
  const body = parseJsonObject(await layout.readBlob(config, MAX_CONFIG_BYTES), `${layout.label}: config ${config.digest}`, MAX_CONFIG_BYTES)
  if (typeof body.os !== 'string' || typeof body.architecture !== 'string') return undefined
  const platform: Platform = { architecture: body.architecture, os: body.os }
  if (typeof body.variant === 'string') platform.variant = body.variant
  if (typeof body['os.version'] === 'string') platform['os.version'] = body['os.version']
  if (Array.isArray(body['os.features'])) platform['os.features'] = body['os.features'].filter((f): f is string => typeof f === 'string')
  return platform
}

/** The descriptor a referrers list gives for a manifest: with its artifact type and annotations. */
function referrerDescriptor(node: DagNode): Descriptor {
  const body = node.body ?? {}
  const config = body.config as { mediaType?: unknown } | undefined
  const artifactType = typeof body.artifactType === 'string' ? body.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined
  const d: Descriptor = { mediaType: node.mediaType, digest: node.descriptor.digest, size: node.descriptor.size }
  if (artifactType) d.artifactType = artifactType
  if (body.annotations && typeof body.annotations === 'object') d.annotations = body.annotations as Record<string, string>
  return d
}

/** Manifests in a layout that could be referrers: index.json entries, then small JSON blobs. */
async function referrerCandidates(layout: OciLayout, indexEntries: Descriptor[], nodes: Map<string, DagNode>): Promise<DagNode[]> {
  const source = layoutSource(layout)
  const out: DagNode[] = []
  const seen = new Set<string>()
  const consider = async (desc: Descriptor, fromScan: boolean) => {
    if (seen.has(desc.digest)) return
    seen.add(desc.digest)
    try {
      const node = nodes.get(desc.digest) ?? (await readNode(source, desc))
      if (node.subject && node.kind !== 'blob') out.push(node)
    } catch (err) {
      // A scanned blob that is not a readable manifest is simply not a referrer; entries of index.json must be valid.
      if (!fromScan) throw err
    }
  }
  for (const entry of indexEntries) await consider(entry, false)
  for (const blob of await layout.listBlobs()) {
    if (blob.size > 1024 * 1024 || nodes.has(blob.digest) || seen.has(blob.digest)) continue
    await consider({ mediaType: '', digest: blob.digest, size: blob.size }, true)
  }
  return out
}

interface ImageState {
  path: string
  tags: Map<string, PlannedTag>
  nodes: Map<string, DagNode>
  referrers: Map<string, Descriptor[]>
}

/** Read every input, choose tags, walk each DAG and its referrers, and check for conflicts. */
export async function planSite(inputs: LayoutInput[], onProgress?: ProgressListener): Promise<SitePlan> {
  const images = new Map<string, ImageState>()
  const blobs = new Map<string, PlannedBlob>()
  const untagged: string[] = []

  for (const input of inputs) {
    const { layout } = input
    const source = layoutSource(layout)
    const state: ImageState = images.get(input.imagePath) ?? { path: input.imagePath, tags: new Map(), nodes: new Map(), referrers: new Map() }
    images.set(input.imagePath, state)
    const { manifests: entries } = await layout.index(input.searched)
    const matchers = input.tags.map((g) => picomatch(g, { dot: true }))
    const tagged = entries.flatMap((entry) => {
      const refName = entry.annotations?.[REF_NAME]
      return typeof refName === 'string' ? [{ entry, tag: tagFromRefName(refName, layout.where('index.json')) }] : []
    })
    const chosen = tagged.filter(({ tag }) => matchers.length === 0 || matchers.some((m) => m(tag)))
    if (chosen.length === 0) {
      const available = [...new Set(tagged.map((t) => t.tag))].join(', ') || 'none'
      untagged.push(`${layout.label}: no tags${input.tags.length ? ` matching ${input.tags.join(', ')}` : ''} (tags: ${available})`)
    }

    const layoutNodes = new Map<string, DagNode>()
    for (const { entry, tag: rawTag } of chosen) {
      const tag = checkTag(rawTag, layout.where('index.json'))
      await walkDag(source, [entry], layoutNodes)
      const node = layoutNodes.get(entry.digest)!
      const prior = state.tags.get(tag)
      if (prior && prior.entry.digest !== entry.digest) {
        throw new OcisiteError(
          'TAG_CONFLICT',
          `${input.imagePath}:${tag} comes from ${prior.label} as ${prior.entry.digest} and from ${layout.label} as ${entry.digest}`,
          { path: input.imagePath, tag },
        )
      }
      if (prior) continue
      const annotations = { ...(entry.annotations ?? {}), [REF_NAME]: tag }
      const out: Descriptor = { ...plainDescriptor(entry), mediaType: node.mediaType, annotations }
      if (!out.platform) {
        const platform = await platformOf(layout, node)
        if (platform) out.platform = platform
      }
      state.tags.set(tag, { tag, entry: out, label: layout.label })
    }

    // Referrers (signatures, SBOMs) of anything published ride along, recursively.
    if (chosen.length > 0) {
      const candidates = await referrerCandidates(layout, entries, layoutNodes)
      const recorded = new Set<string>()
      let added = true
      while (added) {
        added = false
        for (const c of candidates) {
          const digest = c.descriptor.digest
          if (recorded.has(digest) || !layoutNodes.has(c.subject!.digest)) continue
          recorded.add(digest)
          if (!layoutNodes.has(digest)) await walkDag(source, [{ ...c.descriptor, mediaType: c.mediaType }], layoutNodes)
          const list = state.referrers.get(c.subject!.digest) ?? []
          if (!list.some((d) => d.digest === digest)) list.push(referrerDescriptor(c))
          state.referrers.set(c.subject!.digest, list)
          added = true
        }
      }
    }

    for (const [digest, node] of layoutNodes) {
      state.nodes.set(digest, node)
      if (blobs.has(digest)) continue
      const file = await layout.statBlob(node.descriptor)
      blobs.set(digest, { digest: parseDigest(digest), size: file.size, file: file.file, label: layout.label, layout })
    }
  }

  const planned = [...images.values()].filter((s) => s.tags.size > 0).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  if (planned.length === 0) throw new OcisiteError('NOTHING_TO_PUBLISH', `no tags to publish: ${untagged.join('; ')}`)
  // Only when the build goes ahead are inputs that contribute nothing worth a warning each.
  for (const message of untagged) onProgress?.({ type: 'warning', message: message.replace(': no tags', ': no tags to publish') })
  checkPathPrefixes(planned.map((i) => i.path))

  return {
    images: planned.map((s) => ({
      path: s.path,
      tags: [...s.tags.values()].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)),
      manifests: plannedManifests(s.nodes),
      referrers: new Map([...s.referrers].map(([k, v]) => [k, [...v].sort((a: Descriptor, b: Descriptor) => (a.digest < b.digest ? -1 : 1))])),
    })),
    blobs: [...blobs.values()].sort((a, b) => (a.digest.value < b.digest.value ? -1 : 1)),
  }
}

function plannedManifests(nodes: Map<string, DagNode>): PlannedManifest[] {
  const out: PlannedManifest[] = []
  for (const node of nodes.values()) {
    const kind = node.kind === 'blob' ? undefined : manifestKindOf(node.mediaType)
    if (!kind) continue
    const m: PlannedManifest = { digest: parseDigest(node.descriptor.digest), size: node.descriptor.size, mediaType: node.mediaType, kind }
    if (node.subject) m.subject = node.subject.digest
    out.push(m)
  }
  return out.sort((a, b) => (a.digest.value < b.digest.value ? -1 : 1))
}

/** oci-index/<path> is a file, so no image path may be a directory prefix of another. */
function checkPathPrefixes(paths: string[]): void {
  for (const p of paths) {
    const longer = paths.find((q) => q.startsWith(`${p}/`))
    if (longer) {
      throw new OcisiteError(
        'PATH_CONFLICT',
        `image paths "${p}" and "${longer}" collide: oci-index/${p} cannot be both a file and a directory. Publish "${p}" under a path that is not a prefix of another (for example "${p}/base" via "images" in ocisite.json), or move "${longer}"`,
        { path: p },
      )
    }
  }
}

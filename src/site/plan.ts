import { lstatOrUndefined, stampOf, type FileStamp } from '../oci/atomic.js'
import { mapLimit } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import { plainDescriptor, platformFromConfig, REF_NAME, tagFromRefName, type Descriptor, type Platform } from '../oci/descriptor.js'
import { parseDigest, type Digest } from '../oci/digest.js'
import { MAX_CONFIG_BYTES, parseJsonObject } from '../oci/json.js'
import type { BlobFile, OciLayout } from '../oci/layout.js'
import { isImageConfigType, manifestKindOf, type ManifestKind } from '../oci/media-types.js'
import { readNode, walkDag, type BlobSource, type DagNode } from '../oci/walk.js'
import type { LayoutInput } from './inputs.js'
import { checkTag } from './names.js'
import type { ProgressListener } from './progress.js'
import type { PublishedImage } from './published.js'
import { pushAll } from '../arrays.js'

/** A blob to store: copied (and verified as it is copied) from an input layout, or already in the site. */
export interface PlannedBlob {
  digest: Digest
  size: number
  label: string
  /** The input layout's checked file and its lstat; absent when only the site itself holds the blob. */
  origin?: { layout: OciLayout; file: string; stamp: FileStamp }
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
  /**
   * Input files the plan looked at besides the blobs it takes from them (the same blob in
   * another input, files the referrer scan read), each with the stamp it had ('' for none).
   * While none of them changes (nor the blobs), planning again would give the same plan.
   */
  seen: Array<[file: string, stamp: FileStamp]>
}

function layoutSource(layout: OciLayout): BlobSource {
  return { label: layout.label, readJson: (d) => layout.readBlob(d) }
}

async function platformOf(layout: OciLayout, node: DagNode): Promise<Platform | undefined> {
  const config = node.children[0]
  if (node.kind !== 'manifest' || !config || !isImageConfigType(config.mediaType)) return undefined
  return platformFromConfig(parseJsonObject(await layout.readBlob(config, MAX_CONFIG_BYTES), `${layout.label}: config ${config.digest}`, MAX_CONFIG_BYTES))
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
async function referrerCandidates(layout: OciLayout, indexEntries: Descriptor[], nodes: Map<string, DagNode>, looked: Array<[string, FileStamp]>): Promise<DagNode[]> {
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
  // Only files no tag reaches are read, in a fixed order, and only regular files of at most 1 MiB.
  const unvisited = layout.listBlobs().filter((b) => !nodes.has(b.digest) && !seen.has(b.digest))
  for (const blob of unvisited.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))) {
    const st = lstatOrUndefined(blob.file)
    looked.push([blob.file, st ? stampOf(st) : ''])
    if (!st?.isFile() || st.size > 1024n * 1024n) continue
    await consider({ mediaType: '', digest: blob.digest, size: Number(st.size) }, true)
  }
  return out
}

interface ImageState {
  path: string
  tags: Map<string, PlannedTag & { fromSite: boolean }>
  nodes: Map<string, DagNode>
  referrers: Map<string, Descriptor[]>
}

/** What one input contributes, planned on its own (inputs are planned concurrently). */
interface InputPlan {
  tags: Array<{ tag: string; entry: Descriptor }>
  nodes: Map<string, DagNode>
  referrers: Array<{ subject: string; descriptor: Descriptor }>
  files: Map<string, BlobFile>
  seen: Array<[string, FileStamp]>
  untagged?: string
}

/** What a site already publishes, when the plan updates it (`add`, `rm`, `prune`). */
export interface SiteBase {
  label: string
  images: PublishedImage[]
  /** Reads the site's own documents, verified. */
  source: BlobSource
  /** An input's tag may replace the site's tag of the same name with another digest. */
  force: boolean
}

/** Re-read what the site publishes: walk each image's tags and referrers through its own CAS. */
async function planPublished(image: PublishedImage, source: BlobSource): Promise<InputPlan> {
  const referrers = image.referrers.flatMap((r) => r.manifests.map((descriptor) => ({ subject: r.subject, descriptor })))
  const nodes = await walkDag(source, [...image.tags.map((t) => t.entry), ...referrers.map((r) => r.descriptor)])
  return { tags: image.tags, nodes, referrers, files: new Map(), seen: [] }
}

/** Choose an input's tags, walk their DAGs and referrers, and check every blob file. */
async function planInput(input: LayoutInput): Promise<InputPlan> {
  const { layout } = input
  const source = layoutSource(layout)
  const { manifests: entries } = await layout.index(input.searched)
  // picomatch is loaded only when tags are filtered.
  const picomatch = input.tags.length > 0 ? (await import('picomatch')).default : undefined
  const matchers = input.tags.map((g) => picomatch!(g, { dot: true }))
  const tagged = entries.flatMap((entry) => {
    const refName = entry.annotations?.[REF_NAME]
    return typeof refName === 'string' ? [{ entry, tag: tagFromRefName(refName, layout.where('index.json')) }] : []
  })
  const chosen = tagged.filter(({ tag }) => matchers.length === 0 || matchers.some((m) => m(tag)))
  const plan: InputPlan = { tags: [], nodes: new Map(), referrers: [], files: new Map(), seen: [] }
  if (chosen.length === 0) {
    const available = [...new Set(tagged.map((t) => t.tag))].join(', ') || 'none'
    plan.untagged = `${layout.label}: no tags${input.tags.length ? ` matching ${input.tags.join(', ')}` : ''} (tags: ${available})`
    return plan
  }
  for (const { entry, tag: rawTag } of chosen) {
    const tag = checkTag(rawTag, layout.where('index.json'))
    await walkDag(source, [entry], plan.nodes)
    const node = plan.nodes.get(entry.digest)!
    const out: Descriptor = { ...plainDescriptor(entry), mediaType: node.mediaType, annotations: { ...(entry.annotations ?? {}), [REF_NAME]: tag } }
    if (!out.platform) {
      const platform = await platformOf(layout, node)
      if (platform) out.platform = platform
    }
    plan.tags.push({ tag, entry: out })
  }
  // Referrers (signatures, SBOMs) of anything published ride along, recursively.
  const candidates = await referrerCandidates(layout, entries, plan.nodes, plan.seen)
  const recorded = new Set<string>()
  let added = true
  while (added) {
    added = false
    for (const c of candidates) {
      const digest = c.descriptor.digest
      if (recorded.has(digest) || !plan.nodes.has(c.subject!.digest)) continue
      recorded.add(digest)
      if (!plan.nodes.has(digest)) await walkDag(source, [{ ...c.descriptor, mediaType: c.mediaType }], plan.nodes)
      plan.referrers.push({ subject: c.subject!.digest, descriptor: referrerDescriptor(c) })
      added = true
    }
  }
  for (const node of plan.nodes.values()) {
    const f = layout.statBlob(node.descriptor)
    plan.files.set(f.digest.value, f)
  }
  return plan
}

/**
 * Read every input, choose tags, walk each DAG and its referrers, and check for conflicts. With a
 * `base`, the inputs are merged into what the site already publishes.
 */
export async function planSite(inputs: LayoutInput[], onProgress?: ProgressListener, base?: SiteBase): Promise<SitePlan> {
  // Inputs are read concurrently, then merged in input order, so the result (and the first error
  // reported) is the same however the reads interleave.
  const settle = <T>(p: Promise<T>) => p.then((plan) => ({ plan }), (error: unknown) => ({ error }))
  const [fromSite, settled] = await Promise.all([
    mapLimit(base?.images ?? [], 32, (image) => planPublished(image, base!.source)),
    mapLimit(inputs, 32, (input) => settle(planInput(input))),
  ])
  const images = new Map<string, ImageState>()
  const files = new Map<string, BlobFile & { layout: OciLayout }>()
  const untagged: string[] = []
  const seen: Array<[string, FileStamp]> = []
  const stateOf = (path: string) => {
    const state: ImageState = images.get(path) ?? { path, tags: new Map(), nodes: new Map(), referrers: new Map() }
    images.set(path, state)
    return state
  }
  const addNodesAndReferrers = (state: ImageState, plan: InputPlan) => {
    for (const { subject, descriptor } of plan.referrers) {
      const list = state.referrers.get(subject) ?? []
      if (!list.some((d) => d.digest === descriptor.digest)) list.push(descriptor)
      state.referrers.set(subject, list)
    }
    for (const [digest, node] of plan.nodes) if (!state.nodes.has(digest)) state.nodes.set(digest, node)
  }
  for (const [i, image] of (base?.images ?? []).entries()) {
    const state = stateOf(image.path)
    for (const { tag, entry } of image.tags) state.tags.set(tag, { tag, entry, label: base!.label, fromSite: true })
    addNodesAndReferrers(state, fromSite[i]!)
  }
  for (const [i, input] of inputs.entries()) {
    const result = settled[i]!
    if ('error' in result) throw result.error
    const { plan } = result
    const { layout } = input
    const state = stateOf(input.imagePath)
    if (plan.untagged) untagged.push(plan.untagged)
    for (const { tag, entry } of plan.tags) {
      const prior = state.tags.get(tag)
      if (prior && prior.entry.digest !== entry.digest) {
        if (prior.fromSite && !base?.force) {
          throw new OcisiteError('TAG_CONFLICT', `${input.imagePath}:${tag} is published as ${prior.entry.digest}, and ${layout.label} has it as ${entry.digest}; pass --force to move the tag`, {
            path: input.imagePath,
            tag,
          })
        }
        if (!prior.fromSite) {
          throw new OcisiteError('TAG_CONFLICT', `${input.imagePath}:${tag} comes from ${prior.label} as ${prior.entry.digest} and from ${layout.label} as ${entry.digest}`, { path: input.imagePath, tag })
        }
      }
      if (!prior || prior.fromSite) state.tags.set(tag, { tag, entry, label: layout.label, fromSite: false })
    }
    addNodesAndReferrers(state, plan)
    pushAll(seen, plan.seen)
    for (const [digest, file] of plan.files) {
      if (!files.has(digest)) files.set(digest, { ...file, layout })
      else seen.push([file.file, file.stamp])
    }
  }

  if (inputs.length > 0 && untagged.length === inputs.length && base) throw new OcisiteError('NOTHING_TO_PUBLISH', `nothing to add: ${untagged.join('; ')}`)
  const planned = [...images.values()].filter((s) => s.tags.size > 0).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  if (planned.length === 0 && !base) throw new OcisiteError('NOTHING_TO_PUBLISH', `no tags to publish: ${untagged.join('; ')}`)
  // Only when the build goes ahead are inputs that contribute nothing worth a warning each.
  for (const message of untagged) onProgress?.({ type: 'warning', message: message.replace(': no tags', ': no tags to publish') })
  checkPathPrefixes(planned.map((i) => i.path))

  const blobs = new Map<string, PlannedBlob>()
  const out: PlannedImage[] = planned.map((s) => {
    const { nodes, referrers } = reachable(s)
    for (const [digest, node] of nodes) {
      if (blobs.has(digest)) continue
      const file = files.get(digest)
      const blob: PlannedBlob = { digest: parseDigest(digest), size: node.descriptor.size, label: file?.layout.label ?? base?.label ?? s.path }
      if (file) blob.origin = { layout: file.layout, file: file.file, stamp: file.stamp }
      blobs.set(digest, blob)
    }
    return {
      path: s.path,
      tags: [...s.tags.values()].map(({ fromSite: _, ...t }) => t).sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)),
      manifests: plannedManifests(nodes),
      referrers: new Map([...referrers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, [...v].sort((a: Descriptor, b: Descriptor) => (a.digest < b.digest ? -1 : 1))])),
    }
  })
  return { images: out, blobs: [...blobs.values()].sort((a, b) => (a.digest.value < b.digest.value ? -1 : 1)), seen }
}

/**
 * What an image publishes: everything reachable from its tags, and the referrers (recursively)
 * of anything reachable. A tag moved or removed leaves its old graph behind.
 */
function reachable(state: ImageState): { nodes: Map<string, DagNode>; referrers: Map<string, Descriptor[]> } {
  const nodes = new Map<string, DagNode>()
  const visit = (digest: string) => {
    if (nodes.has(digest)) return
    const node = state.nodes.get(digest)
    if (!node) return
    nodes.set(digest, node)
    for (const child of node.children) visit(child.digest)
  }
  for (const t of state.tags.values()) visit(t.entry.digest)
  const referrers = new Map<string, Descriptor[]>()
  for (let added = true; added; ) {
    added = false
    for (const [subject, list] of state.referrers) {
      if (referrers.has(subject) || !nodes.has(subject)) continue
      referrers.set(subject, list)
      for (const d of list) visit(d.digest)
      added = true
    }
  }
  return { nodes, referrers }
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

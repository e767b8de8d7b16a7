import type { FileStamp } from '../../fs/atomic.js'
import { mapLimit } from '../../concurrency.js'
import { pushAll } from '../../arrays.js'
import { OcisiteError } from '../../errors.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { parseDigest, type Digest } from '../../oci/digest.js'
import { walk, type NodeCache } from '../../content/graph.js'
import type { BlobFile, OciLayout } from '../../content/layout/oci-layout.js'
import type { Fetcher } from '../../content/storage.js'
import { manifestKindOf, type ManifestKind } from '../../oci/media-types.js'
import type { LayoutInput } from './inputs.js'
import { planInput, planPublished, planWaiting, type InputPlan, type SitePart } from './plan-input.js'
import type { ProgressListener } from '../progress.js'
import type { Published, PublishedImage, SiteSettings } from '../write/published.js'
import { pathOf } from '../map.js'
import { planned, publishedGraph, ReferrerPool, referrersAmong, type Referrer } from './referrers.js'

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
  /** Every node it publishes (tags' graphs and referrers' graphs), as the plan read them. */
  nodes: NodeCache
}

/** Everything a build will write, decided before any byte is written. */
export interface SitePlan {
  images: PlannedImage[]
  /** Referrers whose subject no image publishes yet: stored and recorded, not served. */
  pending: Array<{ subject: string; descriptor: Descriptor }>
  /** Every node of the waiting referrers' graphs. */
  pendingNodes: NodeCache
  blobs: PlannedBlob[]
  /**
   * Input files the plan looked at besides the blobs it takes from them (the same blob in
   * another input, files the referrer scan read), each with the stamp it had ('' for none).
   * While none of them changes (nor the blobs), planning again would give the same plan.
   */
  seen: Array<[file: string, stamp: FileStamp]>
  /** The lookaside of containers signatures (`signatures/…`, path → bytes); see site/sign/lookaside-files.ts. */
  lookaside?: Map<string, Buffer>
}

interface ImageState {
  path: string
  tags: Map<string, PlannedTag & { fromSite: boolean }>
  nodes: NodeCache
}

/** What a site already publishes, when the plan updates it (`add`, `rm`, `prune`). */
export interface SiteBase {
  label: string
  images: PublishedImage[]
  /** Referrers the site keeps until an image publishes their subject. */
  pending: Descriptor[]
  /** The site's own store: its documents are read back from it, verified. */
  store: Fetcher
  /** An input's tag may replace the site's tag of the same name with another digest. */
  force: boolean
}

type InputFile = BlobFile & { layout: OciLayout }

/** The tags of the site, then of each input in order, merged per image path (conflicts refused). */
function mergeTags(inputs: LayoutInput[], plans: InputPlan[], fromSite: SitePart[], base: SiteBase | undefined): Map<string, ImageState> {
  const images = new Map<string, ImageState>()
  const stateOf = (path: string) => {
    const state: ImageState = images.get(path) ?? { path, tags: new Map(), nodes: new Map() }
    images.set(path, state)
    return state
  }
  const addNodes = (state: ImageState, nodes: NodeCache) => {
    for (const [digest, node] of nodes) if (!state.nodes.has(digest)) state.nodes.set(digest, node)
  }
  for (const [i, image] of (base?.images ?? []).entries()) {
    const state = stateOf(image.path)
    for (const { tag, entry } of image.tags) state.tags.set(tag, { tag, entry, label: base!.label, fromSite: true })
    addNodes(state, fromSite[i]!.nodes)
  }
  for (const [i, input] of inputs.entries()) {
    const plan = plans[i]!
    const { layout } = input
    const state = stateOf(input.imagePath)
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
    addNodes(state, plan.nodes)
  }
  return images
}

/**
 * Every referrer the plan knows: each input's (in input order), then the site's tagged manifests
 * with a subject (under the tags it keeps), the referrers it records, and those it keeps waiting.
 */
async function referrerPool(plans: InputPlan[], images: Map<string, ImageState>, fromSite: SitePart[], waiting: Referrer[], base: SiteBase | undefined): Promise<ReferrerPool> {
  const pool = new ReferrerPool()
  for (const plan of plans) pool.add(plan.referrers)
  for (const [i, image] of (base?.images ?? []).entries()) {
    const state = images.get(image.path)!
    const kept = [...state.tags.values()].filter((t) => t.fromSite).map((t) => t.entry)
    // The site's own tagged graphs (read already) that the merge keeps.
    pool.add(referrersAmong((await walk(planned, kept, { cache: fromSite[i]!.nodes })).nodes, base!.store))
  }
  for (const part of fromSite) pool.add(part.recorded)
  pool.add(waiting)
  return pool
}

/**
 * Read every input, choose tags, walk each DAG, and check for conflicts. Referrers are published
 * in every image path that publishes their subject, whichever input (or the site) they come
 * from; one whose subject lies outside its own layout and is published nowhere waits in the
 * site until it is. With a `base`, the inputs are merged into what the site already publishes.
 */
export async function planSite(inputs: LayoutInput[], onProgress?: ProgressListener, base?: SiteBase): Promise<SitePlan> {
  // Inputs are read concurrently, then merged in input order, so the result (and the first error
  // reported) is the same however the reads interleave.
  const settle = <T>(p: Promise<T>) => p.then((plan) => ({ plan }), (error: unknown) => ({ error }))
  const [fromSite, waiting, settled] = await Promise.all([
    mapLimit(base?.images ?? [], 32, (image) => planPublished(image, base!.store)),
    base ? planWaiting(base.pending, base.store) : [],
    mapLimit(inputs, 32, (input) => settle(planInput(input))),
  ])
  const plans = settled.map((result) => {
    if ('error' in result) throw result.error
    return result.plan
  })
  const images = mergeTags(inputs, plans, fromSite, base)
  const files = new Map<string, InputFile>()
  const seen: Array<[string, FileStamp]> = []
  const takeFiles = (found: Iterable<InputFile>) => {
    for (const file of found) {
      if (!files.has(file.digest.value)) files.set(file.digest.value, file)
      else seen.push([file.file, file.stamp])
    }
  }
  for (const [i, plan] of plans.entries()) {
    pushAll(seen, plan.seen)
    takeFiles([...plan.files.values()].map((f) => ({ ...f, layout: inputs[i]!.layout })))
  }
  const chosen = [...images.values()].filter((s) => s.tags.size > 0).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const untaggedAll = plans.flatMap((p) => (p.untagged ? [p.untagged] : []))
  if (chosen.length === 0 && !base) throw new OcisiteError('NOTHING_TO_PUBLISH', `no tags to publish: ${untaggedAll.join('; ')}`)
  checkPathPrefixes(chosen.map((i) => i.path))

  const pool = await referrerPool(plans, images, fromSite, waiting, base)
  const published = new Set<string>()
  const graphs: Array<{ state: ImageState; nodes: NodeCache; referrers: Map<string, Descriptor[]> }> = []
  // A referrer's files are taken once, however many images list it.
  const taken = new Set<string>()
  const take = async (referrers: Referrer[]) => {
    for (const r of referrers) {
      if (!taken.has(r.digest)) takeFiles((await r.graph()).files.values())
      taken.add(r.digest)
    }
  }
  for (const state of chosen) {
    const { attached, ...graph } = await publishedGraph([...state.tags.values()].map((t) => t.entry), state.nodes, pool)
    await take(attached)
    for (const digest of graph.nodes.keys()) published.add(digest)
    graphs.push({ state, ...graph })
  }
  const { kept, nodes: keptNodes } = await pool.waiting((digest) => published.has(digest))
  await take(kept)
  reportInputs(plans, kept, published, base, onProgress)

  const blobs = new Map<string, PlannedBlob>()
  const addBlobs = (nodes: NodeCache, fallback: string) => {
    for (const [digest, node] of nodes) {
      if (blobs.has(digest)) continue
      const file = files.get(digest)
      const blob: PlannedBlob = { digest: parseDigest(digest), size: node.descriptor.size, label: file?.layout.label ?? base?.label ?? fallback }
      if (file) blob.origin = { layout: file.layout, file: file.file, stamp: file.stamp }
      blobs.set(digest, blob)
    }
  }
  const out: PlannedImage[] = graphs.map(({ state: s, nodes, referrers }) => {
    addBlobs(nodes, s.path)
    return {
      path: s.path,
      tags: [...s.tags.values()].map(({ fromSite: _, ...t }) => t).sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)),
      manifests: plannedManifests(nodes),
      referrers: new Map([...referrers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, [...v].sort((a: Descriptor, b: Descriptor) => (a.digest < b.digest ? -1 : 1))])),
      nodes,
    }
  })
  addBlobs(keptNodes, 'waiting referrers')
  const pending = kept.map((r) => ({ subject: r.subject, descriptor: r.descriptor }))
  return { images: out, pending, pendingNodes: keptNodes, blobs: [...blobs.values()].sort((a, b) => (a.digest.value < b.digest.value ? -1 : 1)), seen }
}

/**
 * Warn about inputs that contribute nothing, and about referrers that wait for their subject. An
 * input with no tags still contributes the referrers it brings of manifests outside itself.
 */
function reportInputs(plans: InputPlan[], kept: Referrer[], published: Set<string>, base: SiteBase | undefined, onProgress?: ProgressListener): void {
  const waiting = new Set(kept.map((r) => r.digest))
  const brings = (p: InputPlan) => p.referrers.some((r) => r.outside && (published.has(r.digest) || waiting.has(r.digest)))
  const untagged = plans.flatMap((p) => (p.untagged && !brings(p) ? [p.untagged] : []))
  if (plans.length > 0 && untagged.length === plans.length && base) throw new OcisiteError('NOTHING_TO_PUBLISH', `nothing to add: ${untagged.join('; ')}`)
  // Only when the build goes ahead are inputs that contribute nothing worth a warning each.
  for (const message of untagged) onProgress?.({ type: 'warning', message: message.replace(': no tags', ': no tags to publish') })
  const warned = new Set<string>()
  for (const r of plans.flatMap((p) => p.referrers).filter((r) => waiting.has(r.digest) && !warned.has(r.digest))) {
    warned.add(r.digest)
    onProgress?.({ type: 'warning', message: `${r.label}: ${r.digest} is a referrer of ${r.subject}, which no image of the site publishes; it is kept (not served) and published once an image with that manifest is added` })
  }
}

function plannedManifests(nodes: NodeCache): PlannedManifest[] {
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
        `image paths "${p}" and "${longer}" collide: ${pathOf({ kind: 'index', repo: p })} cannot be both a file and a directory. Publish "${p}" under a path that is not a prefix of another (for example "${p}/base" via "images" in ocisite.json), or move "${longer}"`,
        { path: p },
      )
    }
  }
}

/** The site record (.ocisite/site.json) of what a plan publishes. */
export function publishedOf(plan: SitePlan, settings: SiteSettings): Published {
  return {
    settings,
    images: plan.images.map((i) => ({
      path: i.path,
      tags: i.tags.map((t) => ({ tag: t.tag, entry: t.entry })),
      referrers: [...i.referrers].map(([subject, manifests]) => ({ subject, manifests })),
    })),
    pending: plan.pending.map((p) => p.descriptor),
  }
}

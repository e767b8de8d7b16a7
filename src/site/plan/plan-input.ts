import type { FileStamp } from '../../fs/atomic.js'
import { walk, type NodeCache } from '../../content/graph.js'
import type { BlobFile, OciLayout } from '../../content/layout/oci-layout.js'
import { fetchAll } from '../../content/read.js'
import type { Fetcher } from '../../content/storage.js'
import { plainDescriptor, platformFromConfig, REF_NAME, tagFromRefName, type Descriptor, type Platform } from '../../oci/descriptor.js'
import { MAX_CONFIG_BYTES, parseJsonObject } from '../../oci/json.js'
import { isImageConfigType } from '../../oci/media-types.js'
import type { GraphNode } from '../../oci/node.js'
import { checkTag } from '../../oci/names.js'
import type { LayoutInput } from './inputs.js'
import type { PublishedImage } from '../write/published.js'
import { nodesOf, referrer, referrersAmong, type Referrer } from './referrers.js'

/** What one input contributes, planned on its own (inputs are planned concurrently). */
export interface InputPlan {
  tags: Array<{ tag: string; entry: Descriptor }>
  /** Everything reachable from the tags. */
  nodes: NodeCache
  /** Every manifest in the layout with a subject: each is published wherever its subject is. */
  referrers: Referrer[]
  files: Map<string, BlobFile>
  seen: Array<[string, FileStamp]>
  untagged?: string
}

/** What the site publishes now, read back through its own CAS. */
export interface SitePart {
  tags: Array<{ tag: string; entry: Descriptor }>
  /** Everything reachable from the tags, and the recorded referrers' graphs. */
  nodes: NodeCache
  /** The referrers the site's record lists for this image. */
  recorded: Referrer[]
}

/** The platform of a tagged image manifest, from its image config (none for other manifests). */
async function platformOf(layout: OciLayout, node: GraphNode): Promise<Platform | undefined> {
  const config = node.children[0]
  if (node.kind !== 'manifest' || !config || !isImageConfigType(config.mediaType)) return undefined
  return platformFromConfig(parseJsonObject(await fetchAll(layout, config, MAX_CONFIG_BYTES), `${layout.label}: config ${config.digest}`, MAX_CONFIG_BYTES))
}

/** Re-read what the site publishes: walk an image's tags and recorded referrers through its own CAS. */
export async function planPublished(image: PublishedImage, store: Fetcher): Promise<SitePart> {
  const recorded = image.referrers.flatMap((r) => r.manifests)
  const nodes = nodesOf(await walk(store, [...image.tags.map((t) => t.entry), ...recorded]))
  return { tags: image.tags, nodes, recorded: referrersAmong(recorded.map((d) => nodes.get(d.digest)!), store) }
}

/** Referrers the site keeps until their subject is published, read back through its CAS. */
export async function planWaiting(pending: Descriptor[], store: Fetcher): Promise<Referrer[]> {
  const nodes = nodesOf(await walk(store, pending))
  return referrersAmong(pending.map((d) => nodes.get(d.digest)!), store, true)
}

/** The tagged entries of an input's index.json that its tag filters choose. */
async function chooseTags(input: LayoutInput, entries: Descriptor[]): Promise<{ chosen: Array<{ entry: Descriptor; tag: string }>; untagged?: string }> {
  const { layout } = input
  // picomatch is loaded only when tags are filtered.
  const picomatch = input.tags.length > 0 ? (await import('picomatch')).default : undefined
  const matchers = input.tags.map((g) => picomatch!(g, { dot: true }))
  const tagged = entries.flatMap((entry) => {
    const refName = entry.annotations?.[REF_NAME]
    return typeof refName === 'string' ? [{ entry, tag: tagFromRefName(refName, layout.where('index.json')) }] : []
  })
  const chosen = tagged.filter(({ tag }) => matchers.length === 0 || matchers.some((m) => m(tag)))
  if (chosen.length > 0) return { chosen }
  const available = [...new Set(tagged.map((t) => t.tag))].join(', ') || 'none'
  return { chosen, untagged: `${layout.label}: no tags${input.tags.length ? ` matching ${input.tags.join(', ')}` : ''} (tags: ${available})` }
}

/** Choose an input's tags, walk their graphs, find its referrers, and check every blob file. */
export async function planInput(input: LayoutInput): Promise<InputPlan> {
  const { layout } = input
  const { manifests: entries } = await layout.index(input.searched)
  const { chosen, untagged } = await chooseTags(input, entries)
  const tags = chosen.map(({ entry, tag }) => ({ entry, tag: checkTag(tag, layout.where('index.json')) }))
  const nodes = nodesOf(await walk(layout, tags.map((t) => t.entry)))
  const plan: InputPlan = { tags: [], nodes, referrers: [], files: new Map(), seen: [], ...(untagged ? { untagged } : {}) }
  for (const { entry, tag } of tags) {
    const node = nodes.get(entry.digest)!
    const out: Descriptor = { ...plainDescriptor(entry), mediaType: node.mediaType, annotations: { ...(entry.annotations ?? {}), [REF_NAME]: tag } }
    if (!out.platform) {
      const platform = await platformOf(layout, node)
      if (platform) out.platform = platform
    }
    plan.tags.push({ tag, entry: out })
  }
  // Referrers (signatures, SBOMs): published wherever their subject is, from this input or another.
  const scanned = await layout.scanReferrers({ entries, known: nodes, strict: tags.length > 0, onLooked: (file, stamp) => plan.seen.push([file, stamp]) })
  plan.referrers = scanned.map((r) => referrer(r.node, layout, r.outside, layout))
  for (const node of nodes.values()) {
    const f = layout.statBlob(node.descriptor)
    plan.files.set(f.digest.value, f)
  }
  return plan
}

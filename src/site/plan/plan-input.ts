import type { FileStamp } from '../../fs/atomic.js'
import { plainDescriptor, platformFromConfig, REF_NAME, tagFromRefName, type Descriptor, type Platform } from '../../oci/descriptor.js'
import { MAX_CONFIG_BYTES, parseJsonObject } from '../../oci/json.js'
import type { BlobFile, OciLayout } from '../../content/layout/oci-layout.js'
import { isImageConfigType } from '../../oci/media-types.js'
import { walkDag, type BlobSource, type DagNode } from '../../oci/walk.js'
import type { LayoutInput } from './inputs.js'
import { checkTag } from '../../oci/names.js'
import type { PublishedImage } from '../write/published.js'
import { layoutReferrers, referrersAmong, type Referrer } from './referrers.js'

/** What one input contributes, planned on its own (inputs are planned concurrently). */
export interface InputPlan {
  tags: Array<{ tag: string; entry: Descriptor }>
  /** Everything reachable from the tags. */
  nodes: Map<string, DagNode>
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
  nodes: Map<string, DagNode>
  /** The referrers the site's record lists for this image. */
  recorded: Referrer[]
}

function layoutSource(layout: OciLayout): BlobSource {
  return { label: layout.label, readJson: (d) => layout.readBlob(d) }
}

async function platformOf(layout: OciLayout, node: DagNode): Promise<Platform | undefined> {
  const config = node.children[0]
  if (node.kind !== 'manifest' || !config || !isImageConfigType(config.mediaType)) return undefined
  return platformFromConfig(parseJsonObject(await layout.readBlob(config, MAX_CONFIG_BYTES), `${layout.label}: config ${config.digest}`, MAX_CONFIG_BYTES))
}

/** Re-read what the site publishes: walk an image's tags and recorded referrers through its own CAS. */
export async function planPublished(image: PublishedImage, source: BlobSource): Promise<SitePart> {
  const recorded = image.referrers.flatMap((r) => r.manifests)
  const nodes = await walkDag(source, [...image.tags.map((t) => t.entry), ...recorded])
  return { tags: image.tags, nodes, recorded: referrersAmong(recorded.map((d) => nodes.get(d.digest)!), source) }
}

/** Referrers the site keeps until their subject is published, read back through its CAS. */
export async function planWaiting(pending: Descriptor[], source: BlobSource): Promise<Referrer[]> {
  const nodes = await walkDag(source, pending)
  return referrersAmong(pending.map((d) => nodes.get(d.digest)!), source, true)
}

/** Choose an input's tags, walk their DAGs, find its referrers, and check every blob file. */
export async function planInput(input: LayoutInput): Promise<InputPlan> {
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
  // Referrers (signatures, SBOMs): published wherever their subject is, from this input or another.
  plan.referrers = await layoutReferrers(layout, source, entries, plan.nodes, plan.seen, chosen.length > 0)
  for (const node of plan.nodes.values()) {
    const f = layout.statBlob(node.descriptor)
    plan.files.set(f.digest.value, f)
  }
  return plan
}

import type { Descriptor, Platform } from '../../oci/descriptor.js'
import { platformFromConfig } from '../../oci/descriptor.js'
import { MAX_CONFIG_BYTES, MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { isImageConfigType, isIndexType, isManifestType } from '../../oci/media-types.js'
import { parseNode } from '../../oci/node.js'
import { cosignTag, referrerKind, type ReferrerKind } from './signatures.js'
import { timeOf } from './tag-order.js'
import { walk } from '../../content/graph.js'
import type { Fetcher } from '../../content/storage.js'

/** Verified bytes of a small blob (a manifest, an index, a config), at most `limit` of them. */
export type ReadBlob = (desc: Descriptor, limit: number) => Promise<Buffer>
/** The referrers of a manifest (signatures, SBOMs), as its site lists them. */
export type ReferrersOf = (digest: string) => Promise<Descriptor[]>

export interface ConfigFacts {
  digest: string
  mediaType: string
  size: number
  created?: string
  os?: string
  architecture?: string
  variant?: string
  entrypoint?: string[]
  cmd?: string[]
  labels?: Record<string, string>
}

export interface LayerFacts {
  digest: string
  mediaType: string
  size: number
  /** `org.opencontainers.image.title`: the file name of an artifact's layer. */
  title?: string
}

/** One manifest of a tag: the tag's own, or one platform of a multi-platform index. */
export interface ManifestFacts {
  digest: string
  mediaType: string
  size: number
  /** `os/architecture[/variant]`, from the index entry or the config. */
  platform?: string
  artifactType?: string
  /** What pulling it downloads: the sum of its layers' sizes (as Docker Hub shows it). */
  compressedSize: number
  config?: ConfigFacts
  layers: LayerFacts[]
}

export interface ReferrerFacts {
  /** The manifest it refers to: the tag's own, or one of its platforms'. */
  subject: string
  digest: string
  mediaType: string
  size: number
  artifactType?: string
  kind: ReferrerKind
  annotations?: Record<string, string>
}

/** Everything the pages, `ls` and `inspect` show about one tag. */
export interface TagFacts {
  tag: string
  digest: string
  mediaType: string
  size: number
  artifactType?: string
  /** When it was made: its config's `created` (the newest of its platforms'), else its `org.opencontainers.image.created`. */
  created?: string
  /** `org.opencontainers.image.*` annotations (source, revision, description, …), short keys; config labels fill gaps. */
  annotations: Record<string, string>
  manifests: ManifestFacts[]
  referrers: ReferrerFacts[]
  /** A signature refers to it (a Sigstore bundle, a cosign or notation signature), or a cosign `.sig` tag names it. */
  signed: boolean
  /** Every blob the tag and its referrers publish, by digest, with its size (for unique totals). */
  blobs: Map<string, number>
}

const CREATED = 'org.opencontainers.image.created'
/** Annotations worth showing, by their short name. */
const SHOWN = ['title', 'description', 'version', 'source', 'revision', 'url', 'documentation', 'licenses', 'vendor', 'authors']

function shownAnnotations(...sources: Array<Record<string, unknown> | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of SHOWN) {
    for (const s of sources) {
      const v = s?.[`org.opencontainers.image.${key}`]
      if (typeof v === 'string' && v !== '') {
        out[key] = v
        break
      }
    }
  }
  return out
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined)
const stringMap = (v: unknown): Record<string, string> | undefined => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const entries = Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')
  return entries.length > 0 ? Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1))) : undefined
}

function configFacts(desc: Descriptor, body: Record<string, unknown>): ConfigFacts {
  const inner = (typeof body.config === 'object' && body.config !== null ? body.config : {}) as Record<string, unknown>
  const facts: ConfigFacts = { digest: desc.digest, mediaType: desc.mediaType, size: desc.size }
  if (typeof body.created === 'string') facts.created = body.created
  for (const key of ['os', 'architecture', 'variant'] as const) if (typeof body[key] === 'string') facts[key] = body[key]
  const entrypoint = strings(inner.Entrypoint)
  const cmd = strings(inner.Cmd)
  const labels = stringMap(inner.Labels)
  if (entrypoint) facts.entrypoint = entrypoint
  if (cmd) facts.cmd = cmd
  if (labels) facts.labels = labels
  return facts
}

export const platformText = (p: Platform) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')

/** One manifest: its config (read when it is an image config) and layers. */
async function manifestFacts(read: ReadBlob, desc: Descriptor, blobs: Map<string, number>): Promise<{ facts: ManifestFacts; annotations?: Record<string, unknown> }> {
  const node = parseNode(desc, await read(desc, MAX_JSON_BYTES), desc.digest)
  const body = node.body ?? {}
  const [config, ...layers] = node.children
  blobs.set(desc.digest, desc.size)
  for (const c of node.children) blobs.set(c.digest, c.size)
  const layerFacts = layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, ...(typeof l.annotations?.['org.opencontainers.image.title'] === 'string' ? { title: l.annotations['org.opencontainers.image.title'] } : {}) }))
  let platform = desc.platform
  let configF: ConfigFacts | undefined
  if (config && isImageConfigType(config.mediaType)) {
    const configBody = parseJsonObject(await read(config, MAX_CONFIG_BYTES), `config ${config.digest}`, MAX_CONFIG_BYTES)
    configF = configFacts(config, configBody)
    platform ??= platformFromConfig(configBody)
  } else if (config) configF = { digest: config.digest, mediaType: config.mediaType, size: config.size }
  const artifactType = typeof body.artifactType === 'string' ? body.artifactType : config && !isImageConfigType(config.mediaType) ? config.mediaType : undefined
  const facts: ManifestFacts = {
    digest: desc.digest,
    mediaType: node.mediaType,
    size: desc.size,
    ...(platform && platformText(platform) ? { platform: platformText(platform) } : {}),
    ...(artifactType ? { artifactType } : {}),
    compressedSize: layers.reduce((n, l) => n + l.size, 0),
    ...(configF ? { config: configF } : {}),
    layers: layerFacts,
  }
  return { facts, annotations: stringMap(body.annotations) }
}

/**
 * The manifests below an index, nested indexes flattened, in document order: the content
 * layer's one walk over the site's store (through `read`), each manifest then described.
 */
async function indexManifests(read: ReadBlob, desc: Descriptor, blobs: Map<string, number>): Promise<Array<Awaited<ReturnType<typeof manifestFacts>>>> {
  const store: Fetcher = { label: 'site', fetch: async (d, use) => use({ stream: [await read(d, MAX_JSON_BYTES)], label: d.digest }) }
  const out: Array<Awaited<ReturnType<typeof manifestFacts>>> = []
  for (const node of (await walk(store, [desc])).nodes) {
    if (node.kind === 'manifest') out.push(await manifestFacts(read, node.descriptor, blobs))
    else blobs.set(node.descriptor.digest, node.descriptor.size)
  }
  return out
}

/** The referrers of the tag and of its platforms' manifests, each once, by digest. */
async function referrerFacts(read: ReadBlob, referrersOf: ReferrersOf, subjects: string[], blobs: Map<string, number>): Promise<ReferrerFacts[]> {
  const found = new Map<string, { subject: string; r: Descriptor }>()
  for (const subject of subjects) for (const r of await referrersOf(subject)) if (!found.has(r.digest)) found.set(r.digest, { subject, r })
  const out: ReferrerFacts[] = []
  for (const { subject, r } of [...found.values()].sort((a, b) => (a.r.digest < b.r.digest ? -1 : 1))) {
    // Its blobs count towards the image's size; a referrer's config is not an image's, so none is read.
    if (isManifestType(r.mediaType)) {
      const node = parseNode(r, await read(r, MAX_JSON_BYTES), r.digest)
      blobs.set(r.digest, r.size)
      for (const c of node.children) blobs.set(c.digest, c.size)
    } else blobs.set(r.digest, r.size)
    const artifactType = typeof r.artifactType === 'string' ? r.artifactType : undefined
    out.push({ subject, digest: r.digest, mediaType: r.mediaType, size: r.size, ...(artifactType ? { artifactType } : {}), kind: referrerKind(artifactType ?? r.mediaType), ...(r.annotations ? { annotations: r.annotations } : {}) })
  }
  return out
}

/**
 * Describe one tag of an image path: its manifest or index, each platform's config and layers,
 * its referrers. `tagsOfImage` are the other tags of the same path (for cosign `.sig` tags).
 */
export async function describeTag(read: ReadBlob, referrersOf: ReferrersOf, tag: string, entry: Descriptor, tagsOfImage: ReadonlySet<string>): Promise<TagFacts> {
  const blobs = new Map<string, number>()
  let manifests: Array<Awaited<ReturnType<typeof manifestFacts>>> = []
  let own: Record<string, unknown> | undefined
  if (isIndexType(entry.mediaType)) {
    manifests = await indexManifests(read, entry, blobs)
    own = stringMap(parseNode(entry, await read(entry, MAX_JSON_BYTES), entry.digest).body?.annotations)
  } else if (isManifestType(entry.mediaType)) {
    const m = await manifestFacts(read, entry, blobs)
    manifests = [m]
    own = m.annotations
  } else blobs.set(entry.digest, entry.size)
  const facts = manifests.map((m) => m.facts)
  const labels = facts.map((m) => m.config?.labels)
  const created = newest([...facts.map((m) => m.config?.created), typeof own?.[CREATED] === 'string' ? own[CREATED] : undefined])
  const referrers = await referrerFacts(read, referrersOf, [entry.digest, ...facts.map((m) => m.digest)], blobs)
  const signedByTag = [...tagsOfImage].some((t) => {
    const c = cosignTag(t)
    return c?.kind === 'sig' && c.subject === entry.digest
  })
  const artifactType = isManifestType(entry.mediaType) ? facts[0]?.artifactType : undefined
  return {
    tag,
    digest: entry.digest,
    mediaType: entry.mediaType,
    size: entry.size,
    ...(artifactType ? { artifactType } : {}),
    ...(created ? { created } : {}),
    annotations: shownAnnotations(own, ...manifests.map((m) => m.annotations), ...labels),
    manifests: facts,
    referrers,
    signed: signedByTag || referrers.some((r) => r.kind === 'signature' && r.subject === entry.digest),
    blobs,
  }
}

/** What pulling every platform of a tag downloads: each layer once. */
export function compressedSize(facts: Pick<TagFacts, 'manifests'>): number {
  const layers = new Map<string, number>()
  for (const m of facts.manifests) for (const l of m.layers) layers.set(l.digest, l.size)
  let n = 0
  for (const size of layers.values()) n += size
  return n
}

/** The newest of some RFC 3339 times (the text as given), or undefined. */
function newest(times: Array<string | undefined>): string | undefined {
  let best: { text: string; t: number } | undefined
  for (const text of times) {
    const t = timeOf(text)
    if (text !== undefined && t !== undefined && (!best || t > best.t)) best = { text, t }
  }
  return best?.text
}

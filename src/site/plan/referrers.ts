import type { BlobFile, OciLayout } from '../../content/layout/oci-layout.js'
import { walk, type NodeCache, type WalkResult } from '../../content/graph.js'
import type { Fetcher, ReferrerFinder } from '../../content/storage.js'
import type { Descriptor } from '../../oci/descriptor.js'
import type { GraphNode } from '../../oci/node.js'

/**
 * A manifest with a `subject`: a referrer (signature, SBOM) of whatever manifest it names. It is
 * published as a referrer in every image path that publishes its subject, wherever it came from:
 * the subject's own input, another input, or the site itself.
 */
export interface Referrer {
  digest: string
  subject: string
  /** Its entry in a referrers list: with its artifact type and annotations. */
  descriptor: Descriptor
  /** Where it was found, for messages. */
  label: string
  /**
   * Its subject lies outside the layout it came from (a layout made by `pack --subject NAME#TAG`),
   * or it waits in the site for its subject: kept, unserved, until some image publishes the subject.
   */
  outside: boolean
  /** Its whole graph (itself and everything below it), and the input files of its blobs. */
  graph(): Promise<ReferrerGraph>
}

export interface ReferrerGraph {
  nodes: NodeCache
  /** Blob files in its input layout, by digest (empty for one the site holds). */
  files: Map<string, BlobFile & { layout: OciLayout }>
}

/** The descriptor a referrers list gives for a manifest: with its artifact type and annotations. */
export function referrerDescriptor(node: GraphNode): Descriptor {
  const body = node.body ?? {}
  const config = body.config as { mediaType?: unknown } | undefined
  const artifactType = typeof body.artifactType === 'string' ? body.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined
  const d: Descriptor = { mediaType: node.mediaType, digest: node.descriptor.digest, size: node.descriptor.size }
  if (artifactType) d.artifactType = artifactType
  if (body.annotations && typeof body.annotations === 'object') d.annotations = body.annotations as Record<string, string>
  return d
}

/** The nodes of a walk, by digest. */
export function nodesOf(found: WalkResult): NodeCache {
  return new Map(found.nodes.map((n) => [n.descriptor.digest, n]))
}

/** A referrer found as `node` in `store`; its graph is walked there once, its blob files checked in `layout`. */
export function referrer(node: GraphNode, store: Fetcher, outside: boolean, layout?: OciLayout): Referrer {
  let graph: Promise<ReferrerGraph> | undefined
  return {
    digest: node.descriptor.digest,
    subject: node.subject!.digest,
    descriptor: referrerDescriptor(node),
    label: store.label,
    outside,
    graph: () =>
      (graph ??= (async () => {
        const nodes = nodesOf(await walk(store, [node.descriptor], { cache: new Map([[node.descriptor.digest, node]]) }))
        const files = new Map<string, BlobFile & { layout: OciLayout }>()
        if (layout) for (const n of nodes.values()) files.set(n.descriptor.digest, { ...layout.statBlob(n.descriptor), layout })
        return { nodes, files }
      })()),
  }
}

/** Referrers among nodes already read (from the site, or reached from tags). */
export function referrersAmong(nodes: Iterable<GraphNode>, store: Fetcher, outside = false): Referrer[] {
  return [...nodes].flatMap((n) => (n.subject && n.kind !== 'blob' ? [referrer(n, store, outside)] : []))
}

/**
 * The walks of a plan run over nodes it has read already: each input's and the site's graphs,
 * and each referrer's, read once from the store it came from. Nothing is read through this.
 */
export const planned: Fetcher = {
  label: 'the plan',
  fetch: async (desc) => {
    throw new Error(`internal: ${desc.digest} was not read by the plan`)
  },
}

/** Every referrer known to a plan, one per digest, by subject. */
export class ReferrerPool {
  private readonly byDigest = new Map<string, Referrer>()
  private bySubject?: Map<string, Referrer[]>

  /** The first source of a digest wins (inputs in order, then the site); it is `outside` if any source says so. */
  add(referrers: Iterable<Referrer>): void {
    for (const r of referrers) {
      const known = this.byDigest.get(r.digest)
      if (!known) this.byDigest.set(r.digest, r)
      else if (r.outside && !known.outside) this.byDigest.set(r.digest, { ...known, outside: true })
    }
    this.bySubject = undefined
  }

  /** Referrers of `subject`, by digest. */
  of(subject: string): Referrer[] {
    if (!this.bySubject) {
      this.bySubject = new Map()
      for (const r of [...this.byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))) {
        const list = this.bySubject.get(r.subject) ?? []
        list.push(r)
        this.bySubject.set(r.subject, list)
      }
    }
    return this.bySubject.get(subject) ?? []
  }

  /**
   * The pool as a ReferrerFinder for one walk: each referrer listed (those `wanted`) has its graph
   * read into `cache` first, so the walk finds it there.
   */
  finder(cache: NodeCache, wanted: (r: Referrer) => boolean = () => true): ReferrerFinder {
    return {
      referrers: async (subject) => {
        const out: Descriptor[] = []
        for (const r of this.of(subject.digest).filter(wanted)) {
          for (const [digest, node] of (await r.graph()).nodes) if (!cache.has(digest)) cache.set(digest, node)
          out.push(r.descriptor)
        }
        return out
      },
    }
  }

  /** The referrers a walk through `finder` listed, in walk order, each once. */
  listed(found: WalkResult): Referrer[] {
    const out = new Map<string, Referrer>()
    for (const node of found.nodes) for (const d of found.referrers.get(node.descriptor.digest) ?? []) if (!out.has(d.digest)) out.set(d.digest, this.byDigest.get(d.digest)!)
    return [...out.values()]
  }

  /**
   * Referrers published nowhere that wait for their subject: those whose subject lies outside
   * their layout, and everything that refers to what waits. One walk from the first, through the
   * referrers nobody publishes. Sorted by digest, with every node of their graphs.
   */
  async waiting(published: (digest: string) => boolean): Promise<{ kept: Referrer[]; nodes: NodeCache }> {
    const unpublished = (r: Referrer) => !published(r.digest)
    const roots = [...this.byDigest.values()].filter((r) => unpublished(r) && r.outside).sort((a, b) => (a.digest < b.digest ? -1 : 1))
    const cache: NodeCache = new Map()
    for (const r of roots) for (const [digest, node] of (await r.graph()).nodes) if (!cache.has(digest)) cache.set(digest, node)
    const found = await walk(planned, roots.map((r) => r.descriptor), { cache, referrers: this.finder(cache, unpublished) })
    const kept = new Map(roots.map((r) => [r.digest, r]))
    for (const r of this.listed(found)) kept.set(r.digest, r)
    return { kept: [...kept.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1)), nodes: nodesOf(found) }
  }
}

/**
 * What an image path publishes: everything reachable from its tags and, through the pool, every
 * referrer of anything reachable, with everything below those. One walk over nodes read already;
 * the referrers it takes in are listed in walk order.
 */
export async function publishedGraph(roots: Descriptor[], nodes: NodeCache, pool: ReferrerPool): Promise<{ nodes: NodeCache; referrers: Map<string, Descriptor[]>; attached: Referrer[] }> {
  const found = await walk(planned, roots, { cache: nodes, referrers: pool.finder(nodes) })
  return { nodes: nodesOf(found), referrers: found.referrers, attached: pool.listed(found) }
}

import { lstatOrUndefined, stampOf, type FileStamp } from '../../fs/atomic.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import type { BlobFile, OciLayout } from '../../content/layout/oci-layout.js'
import { readNode, walkDag, type BlobSource, type DagNode } from '../../oci/walk.js'

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
  nodes: Map<string, DagNode>
  /** Blob files in its input layout, by digest (empty for one the site holds). */
  files: Map<string, BlobFile & { layout: OciLayout }>
}

/** The descriptor a referrers list gives for a manifest: with its artifact type and annotations. */
export function referrerDescriptor(node: DagNode): Descriptor {
  const body = node.body ?? {}
  const config = body.config as { mediaType?: unknown } | undefined
  const artifactType = typeof body.artifactType === 'string' ? body.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined
  const d: Descriptor = { mediaType: node.mediaType, digest: node.descriptor.digest, size: node.descriptor.size }
  if (artifactType) d.artifactType = artifactType
  if (body.annotations && typeof body.annotations === 'object') d.annotations = body.annotations as Record<string, string>
  return d
}

/** The graph of a referrer found as `node`, read (once) from `source`, its blob files checked in `layout`. */
function referrer(node: DagNode, source: BlobSource, outside: boolean, layout?: OciLayout): Referrer {
  let graph: Promise<ReferrerGraph> | undefined
  return {
    digest: node.descriptor.digest,
    subject: node.subject!.digest,
    descriptor: referrerDescriptor(node),
    label: source.label,
    outside,
    graph: () =>
      (graph ??= (async () => {
        const nodes = await walkDag(source, node.children, new Map([[node.descriptor.digest, node]]))
        const files = new Map<string, BlobFile & { layout: OciLayout }>()
        if (layout) for (const n of nodes.values()) files.set(n.descriptor.digest, { ...layout.statBlob(n.descriptor), layout })
        return { nodes, files }
      })()),
  }
}

/** Referrers among nodes already read (from the site, or reached from tags). */
export function referrersAmong(nodes: Iterable<DagNode>, source: BlobSource, outside = false): Referrer[] {
  return [...nodes].flatMap((n) => (n.subject && n.kind !== 'blob' ? [referrer(n, source, outside)] : []))
}

/**
 * Manifests in a layout that could be referrers: index.json entries, then small JSON blobs no tag
 * reaches. Entries of index.json must be valid when the layout publishes tags (`strict`).
 */
export async function layoutReferrers(layout: OciLayout, source: BlobSource, indexEntries: Descriptor[], nodes: Map<string, DagNode>, looked: Array<[string, FileStamp]>, strict: boolean): Promise<Referrer[]> {
  const out: Referrer[] = []
  const seen = new Set<string>()
  const consider = async (desc: Descriptor, fromScan: boolean) => {
    if (seen.has(desc.digest)) return
    seen.add(desc.digest)
    let node: DagNode
    try {
      node = nodes.get(desc.digest) ?? (await readNode(source, desc))
    } catch (err) {
      // A scanned blob that is not a readable manifest is simply not a referrer.
      if (strict && !fromScan) throw err
      return
    }
    if (!node.subject || node.kind === 'blob') return
    // A subject the layout does not hold was named from elsewhere (a site, a registry).
    const outside = lstatOrUndefined(layout.paths.blob(parseDigest(node.subject.digest)))?.isFile() !== true
    out.push(referrer(node, source, outside, layout))
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
   * Referrers published nowhere that wait for their subject: those whose subject lies outside
   * their layout, and (recursively) those whose subject waits. Sorted by digest.
   */
  waiting(published: (digest: string) => boolean): Referrer[] {
    const waiting = new Map<string, Referrer>()
    const all = [...this.byDigest.values()].filter((r) => !published(r.digest)).sort((a, b) => (a.digest < b.digest ? -1 : 1))
    for (let added = true; added; ) {
      added = false
      for (const r of all) {
        if (waiting.has(r.digest) || !(r.outside || waiting.has(r.subject))) continue
        waiting.set(r.digest, r)
        added = true
      }
    }
    return [...waiting.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))
  }
}

/**
 * What an image path publishes: everything reachable from its tags, and (recursively) every
 * referrer of anything reachable, from the pool. A referrer's graph joins `nodes`; `onAttach`
 * hears each one attached. A tag moved or removed leaves its old graph behind.
 */
export async function publishedGraph(
  roots: string[],
  nodes: Map<string, DagNode>,
  pool: ReferrerPool,
  onAttach: (r: Referrer, graph: ReferrerGraph) => void,
): Promise<{ nodes: Map<string, DagNode>; referrers: Map<string, Descriptor[]> }> {
  const reached = new Map<string, DagNode>()
  const fresh: string[] = []
  const visit = (root: string) => {
    const stack = [root]
    while (stack.length > 0) {
      const digest = stack.pop()!
      const node = reached.has(digest) ? undefined : nodes.get(digest)
      if (!node) continue
      reached.set(digest, node)
      fresh.push(digest)
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!.digest)
    }
  }
  for (const root of roots) visit(root)
  const referrers = new Map<string, Descriptor[]>()
  while (fresh.length > 0) {
    const subjects = fresh.splice(0).filter((d) => pool.of(d).length > 0)
    for (const subject of subjects.sort()) {
      const list: Descriptor[] = []
      for (const r of pool.of(subject)) {
        const graph = await r.graph()
        for (const [digest, node] of graph.nodes) if (!nodes.has(digest)) nodes.set(digest, node)
        list.push(r.descriptor)
        onAttach(r, graph)
        visit(r.digest)
      }
      referrers.set(subject, list)
    }
  }
  return { nodes: reached, referrers }
}

import { limiter } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { blobNode, isDocumentDescriptor, parseNode, type GraphNode } from '../oci/node.js'
import { fetchAll } from './read.js'
import type { Fetcher, ReferrerFinder } from './storage.js'

/** Nodes already read, by digest: a walk fills it, and a copy of the same graph reads nothing again. */
export type NodeCache = Map<string, GraphNode>

/**
 * A node and its successors, read through `fetcher` when it is a document (verified), or taken
 * from `cache`. The one way ocisite finds what a manifest or index points at.
 */
export async function successors(fetcher: Fetcher, desc: Descriptor, cache?: NodeCache): Promise<GraphNode> {
  const known = cache?.get(desc.digest)
  if (known) return known
  const node = isDocumentDescriptor(desc) ? parseNode(desc, await fetchAll(fetcher, desc), `${fetcher.label}: ${desc.digest}`) : blobNode(desc)
  cache?.set(desc.digest, node)
  return node
}

export interface WalkOptions {
  /** Documents read at once (default 8): a remote store answers many requests in parallel. */
  concurrency?: number
  /** Nodes already read; the walk adds what it reads. */
  cache?: NodeCache
  /**
   * Also walk what refers to each manifest and index (signatures, SBOMs), as this finder knows
   * it, and what those refer to in turn.
   */
  referrers?: ReferrerFinder
  /**
   * A document that cannot be read is listed as a leaf when this says so, instead of failing the
   * walk (a prune spares what it can still reach, and a damaged document names nothing).
   */
  asLeaf?(desc: Descriptor, error: unknown): boolean
}

/** What a walk found: every node once, and the referrers found for each subject. */
export interface WalkResult {
  /** Depth-first, in document order (children, then referrers), whatever order reads finished in. */
  nodes: GraphNode[]
  /** The same nodes, each after everything below it (depth-first post-order): children first. */
  postOrder: GraphNode[]
  /** Subject digest → the descriptors of the manifests that refer to it, as the finder listed them. */
  referrers: Map<string, Descriptor[]>
}

/**
 * The reading half of a walk: each node read once, documents concurrently (within the bound),
 * and a node known already (in the cache, or a leaf, which needs no read) at once, with no
 * promise or turn of its own: a walk over nodes a plan has read costs little more than a loop.
 */
class Reader {
  private readonly nodes = new Map<string, GraphNode>()
  private readonly lists = new Map<string, Descriptor[]>()
  private readonly failed = new Map<string, unknown>()
  private readonly reading = new Map<string, Promise<void>>()
  private readonly queue: Descriptor[] = []
  private readonly limit: ReturnType<typeof limiter>
  constructor(
    private readonly fetcher: Fetcher,
    private readonly cache: NodeCache,
    private readonly options: WalkOptions,
  ) {
    this.limit = limiter(options.concurrency ?? 8)
  }

  private draining = false

  /** Start reading these nodes, and what they lead to as it is found (a loop, not a recursion: a graph can be deep). */
  start(descs: Descriptor[]): void {
    for (const desc of descs) this.queue.push(desc)
    if (this.draining) return
    this.draining = true
    while (this.queue.length > 0) {
      const desc = this.queue.pop()!
      const digest = desc.digest
      if (this.nodes.has(digest) || this.failed.has(digest) || this.reading.has(digest)) continue
      const known = this.cache.get(digest) ?? (isDocumentDescriptor(desc) ? undefined : blobNode(desc))
      if (known) {
        this.found(digest, known)
        continue
      }
      const read = this.limit(() => successors(this.fetcher, desc, this.cache)).then(
        (node) => this.found(digest, node),
        (error: unknown) => {
          if (this.options.asLeaf?.(desc, error)) this.found(digest, blobNode(desc))
          else this.failed.set(digest, error)
        },
      )
      this.reading.set(digest, read)
    }
    this.draining = false
  }

  private found(digest: string, node: GraphNode): void {
    this.nodes.set(digest, node)
    if (!this.cache.has(digest)) this.cache.set(digest, node)
    const finder = this.options.referrers
    if (finder && node.kind !== 'blob' && !this.reading.has(`referrers ${digest}`)) {
      const listed = this.limit(() => finder.referrers(node.descriptor)).then(
        (list) => {
          this.lists.set(digest, list)
          this.start(list)
        },
        (error: unknown) => void this.failed.set(`referrers ${digest}`, error),
      )
      this.reading.set(`referrers ${digest}`, listed)
    }
    this.start(node.children)
  }

  /** A node read already, if it is. */
  nodeNow(desc: Descriptor): GraphNode | undefined {
    return this.nodes.get(desc.digest)
  }

  /** A node, once read; its read's error if that failed. */
  async node(desc: Descriptor): Promise<GraphNode> {
    await this.settled(desc.digest)
    const node = this.nodes.get(desc.digest)
    if (!node) throw this.failed.get(desc.digest)
    return node
  }

  /** What refers to a manifest, once listed; its finder's error if that failed. */
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    const key = `referrers ${subject.digest}`
    const list = this.lists.get(subject.digest) ?? (await this.settled(key), this.lists.get(subject.digest))
    if (!list) throw this.failed.get(key)
    return list
  }

  private async settled(key: string): Promise<void> {
    if (!this.reading.has(key)) throw new Error(`internal: walk never started ${key}`)
    await this.reading.get(key)
  }
}

/**
 * Walk the graph below `roots`: read each document once (concurrently), then list every node in
 * a fixed order. A read that fails is reported when the walk reaches it in that order, so the
 * same graph always gives the same result and the same first error. The same digest described
 * with two sizes is refused.
 */
export async function walk(fetcher: Fetcher, roots: Descriptor[], options: WalkOptions = {}): Promise<WalkResult> {
  const reader = new Reader(fetcher, options.cache ?? new Map<string, GraphNode>(), options)
  reader.start([...roots].reverse())
  return ordered(roots, reader, !!options.referrers, fetcher.label)
}

/** The second half of a walk: every node in depth-first document order, failing at the first bad one. */
async function ordered(roots: Descriptor[], reader: Reader, withReferrers: boolean, label: string): Promise<WalkResult> {
  const result: WalkResult = { nodes: [], postOrder: [], referrers: new Map() }
  const seen = new Map<string, number>()
  // An explicit stack: a graph can be deep (an index of indexes), and recursion would be unbounded.
  // A node goes back on it as `done` under its successors, to be listed after them.
  const stack: Array<{ visit: Descriptor } | { done: GraphNode }> = roots.map((visit) => ({ visit })).reverse()
  while (stack.length > 0) {
    const top = stack.pop()!
    if ('done' in top) {
      result.postOrder.push(top.done)
      continue
    }
    const desc = top.visit
    const size = seen.get(desc.digest)
    if (size !== undefined) {
      if (size !== desc.size) throw new OcisiteError('SIZE_MISMATCH', `${label}: ${desc.digest} is described with sizes ${size} and ${desc.size}`, { digest: desc.digest })
      continue
    }
    seen.set(desc.digest, desc.size)
    const node = reader.nodeNow(desc) ?? (await reader.node(desc))
    result.nodes.push(node)
    stack.push({ done: node })
    let next = node.children
    if (withReferrers && node.kind !== 'blob') {
      const list = await reader.referrers(node.descriptor)
      if (list.length > 0) result.referrers.set(node.descriptor.digest, list)
      next = next.concat(list)
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push({ visit: next[i]! })
  }
  return result
}

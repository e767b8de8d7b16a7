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

type Outcome = { node: GraphNode } | { error: unknown }

/**
 * Walk the graph below `roots`: read each document once (concurrently), then list every node in
 * a fixed order. A read that fails is reported when the walk reaches it in that order, so the
 * same graph always gives the same result and the same first error. The same digest described
 * with two sizes is refused.
 */
export async function walk(fetcher: Fetcher, roots: Descriptor[], options: WalkOptions = {}): Promise<WalkResult> {
  const cache = options.cache ?? new Map<string, GraphNode>()
  const outcomes = new Map<string, Promise<Outcome>>()
  const found = new Map<string, Promise<Descriptor[] | { error: unknown }>>()
  const limit = limiter(options.concurrency ?? 8)
  const read = (desc: Descriptor): Promise<Outcome> => {
    let p = outcomes.get(desc.digest)
    if (!p) {
      p = limit(() => successors(fetcher, desc, cache))
        .catch((error: unknown) => {
          if (options.asLeaf?.(desc, error)) return blobNode(desc)
          throw error
        })
        .then(
        (node) => {
          for (const child of node.children) void read(child)
          if (node.kind !== 'blob' && options.referrers) void referrersOf(node.descriptor)
          return { node }
        },
        (error: unknown) => ({ error }),
      )
      outcomes.set(desc.digest, p)
    }
    return p
  }
  const referrersOf = (subject: Descriptor) => {
    let p = found.get(subject.digest)
    if (!p) {
      p = limit(() => options.referrers!.referrers(subject)).then(
        (list) => {
          for (const r of list) void read(r)
          return list
        },
        (error: unknown) => ({ error }),
      )
      found.set(subject.digest, p)
    }
    return p
  }
  for (const root of roots) void read(root)
  return ordered(roots, read, options.referrers ? referrersOf : undefined, fetcher.label)
}

/** The second half of a walk: every node in depth-first document order, failing at the first bad one. */
async function ordered(
  roots: Descriptor[],
  read: (desc: Descriptor) => Promise<Outcome>,
  referrersOf: ((subject: Descriptor) => Promise<Descriptor[] | { error: unknown }>) | undefined,
  label: string,
): Promise<WalkResult> {
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
    const outcome = await read(desc)
    if ('error' in outcome) throw outcome.error
    const { node } = outcome
    result.nodes.push(node)
    stack.push({ done: node })
    let next = node.children
    if (referrersOf && node.kind !== 'blob') {
      const list = await referrersOf(node.descriptor)
      if ('error' in list) throw list.error
      if (list.length > 0) result.referrers.set(node.descriptor.digest, list)
      next = next.concat(list)
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push({ visit: next[i]! })
  }
  return result
}

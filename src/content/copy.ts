import { availableParallelism } from 'node:os'
import { limiter } from '../concurrency.js'
import type { Descriptor } from '../oci/descriptor.js'
import { isDocumentDescriptor } from '../oci/node.js'
import { successors, type NodeCache } from './graph.js'
import type { Fetcher, Storage } from './storage.js'

/** Blobs in flight at once by default: enough to keep the disk and both cores busy on small blobs. */
export const defaultConcurrency = Math.max(4, availableParallelism() * 4)

/** Options of a graph copy. Modelled on oras-go's CopyGraphOptions. */
export interface CopyGraphOptions {
  /** Transfers (and destination checks) at once; default from the CPU count. */
  concurrency?: number
  /** Nodes already read (by a plan's walk): their documents are not read again. */
  cache?: NodeCache
  /**
   * When the destination has a node, skip its whole sub-graph (true, the default), or still look
   * at every node below it (false: a copy that must check each blob, such as `--verify`).
   */
  skipSubgraphs?: boolean
  /** A node was copied into the destination. */
  onCopied?(desc: Descriptor): void
  /** The destination already had a node (and, with `skipSubgraphs`, everything below it). */
  onSkipped?(desc: Descriptor): Promise<void> | void
  /** Bytes as they stream into the destination. */
  onBytes?(n: number): void
}

/**
 * Copy the graphs below `roots` from `src` into `dst`: every node once, children before the
 * nodes that name them (so a destination never holds a manifest whose blobs it lacks), with a
 * bounded number of transfers at once. After the first failure no new transfer starts; the first
 * error is thrown once those in flight have settled.
 */
export async function copyGraph(src: Fetcher, dst: Storage, roots: Descriptor[], options: CopyGraphOptions = {}): Promise<void> {
  const limit = limiter(options.concurrency ?? defaultConcurrency)
  const skipSubgraphs = options.skipSubgraphs ?? true
  const visits = new Map<string, Promise<void>>()
  let failure: { error: unknown } | undefined
  const guarded = <T>(fn: () => Promise<T>): Promise<T> =>
    limit(async () => {
      if (failure) throw failure.error
      return fn()
    })
  // A document the walk read already is not waited for.
  const childrenOf = async (desc: Descriptor) => (options.cache?.get(desc.digest) ?? (await guarded(() => successors(src, desc, options.cache)))).children
  const visit = (desc: Descriptor): Promise<void> => {
    let p = visits.get(desc.digest)
    if (p) return p
    p = (async () => {
      // A leaf is looked at and copied in one turn. (The hook runs in the node's turn: a source
      // that checks its own copy there is bounded too.)
      const leaf = !isDocumentDescriptor(desc)
      const present = await guarded(async () => {
        if (await dst.exists(desc)) {
          await options.onSkipped?.(desc)
          return true
        }
        if (leaf) await src.fetch(desc, (blob) => dst.push(desc, blob, options.onBytes))
        return false
      })
      if (leaf) {
        if (!present) options.onCopied?.(desc)
        return
      }
      if (present && skipSubgraphs) return
      await settle((await childrenOf(desc)).map(visit))
      if (present) return
      await guarded(() => src.fetch(desc, (blob) => dst.push(desc, blob, options.onBytes)))
      options.onCopied?.(desc)
    })().catch((error: unknown) => {
      failure ??= { error }
      throw error
    })
    visits.set(desc.digest, p)
    return p
  }
  await Promise.allSettled(roots.map(visit))
  if (failure) throw failure.error
}

/** Wait for every promise; then throw the first rejection, if any (none is left running). */
async function settle(promises: Array<Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(promises)
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (rejected) throw rejected.reason
}

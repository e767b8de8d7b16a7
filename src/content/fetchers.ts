import type { Descriptor } from '../oci/descriptor.js'
import type { NodeCache } from './graph.js'
import type { Blob, Fetcher, ReadOnlyStorage } from './storage.js'

/**
 * Reads a blob from `local` when it holds a verified copy (its own "already there?" policy), and
 * from `remote` otherwise: a pull's destination is its own cache.
 */
export function preferLocal(local: ReadOnlyStorage, remote: Fetcher): Fetcher {
  return {
    label: remote.label,
    fetch: async <T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> => ((await local.exists(desc)) ? local.fetch(desc, use) : remote.fetch(desc, use)),
  }
}

/**
 * Hands out documents a walk has read already (their verified bytes are in its nodes) from
 * memory, and everything else from `fetcher`: a copy after a walk fetches each document once.
 */
export function withWalked(cache: NodeCache, fetcher: Fetcher): Fetcher {
  return {
    label: fetcher.label,
    fetch: async <T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> => {
      const bytes = cache.get(desc.digest)?.bytes
      return bytes && bytes.byteLength === desc.size ? use({ stream: [bytes], label: fetcher.label }) : fetcher.fetch(desc, use)
    },
  }
}

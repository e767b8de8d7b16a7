import { mapLimit } from '../concurrency.js'
import type { Descriptor } from '../oci/descriptor.js'
import type { Fetcher, Storage } from './storage.js'

import { defaultConcurrency } from './copy.js'

export { defaultConcurrency }

export interface CopyOptions {
  concurrency?: number
  /** Bytes as they stream into the destination. */
  onBytes?: (n: number) => void
  /** A blob done: copied, or already present. */
  onBlob?: (desc: Descriptor, action: 'copied' | 'present', done: number) => void
}

/** What a copy did, and how to undo it. */
export interface CopyTransaction {
  copied: Descriptor[]
  present: Descriptor[]
}

/** A store to copy from that can also check its own copy in place (an input layout). */
export type CopySource = Fetcher & { verify?(desc: Descriptor): Promise<void> }

/**
 * Copy one blob unless the destination already holds a verified copy (then the source is only
 * checked, when it can be).
 */
export async function copyBlob(from: CopySource, to: Storage, desc: Descriptor, onBytes?: (n: number) => void): Promise<'copied' | 'present'> {
  if (await to.exists(desc)) {
    await from.verify?.(desc)
    return 'present'
  }
  await from.fetch(desc, (blob) => to.push(desc, blob, onBytes))
  return 'copied'
}

/** One blob to copy, and the store it comes from. */
export interface CopyItem {
  desc: Descriptor
  from: CopySource
}

/**
 * Copy blobs into one store with a bounded number in flight. On failure, `undo` is given the
 * blobs this copy added and those it attempted (the destination knows how to remove them), then
 * the first error is thrown.
 */
export async function copyBlobs(to: Storage, items: CopyItem[], options: CopyOptions & { undo?: (copied: Descriptor[], attempted: Descriptor[]) => Promise<void> } = {}): Promise<CopyTransaction> {
  const tx: CopyTransaction = { copied: [], present: [] }
  const attempted: Descriptor[] = []
  let done = 0
  try {
    await mapLimit(items, options.concurrency ?? defaultConcurrency, async ({ desc, from }) => {
      attempted.push(desc)
      const action = await copyBlob(from, to, desc, options.onBytes)
      ;(action === 'copied' ? tx.copied : tx.present).push(desc)
      options.onBlob?.(desc, action, ++done)
    })
  } catch (err) {
    await options.undo?.(tx.copied, attempted)
    throw err
  }
  return tx
}

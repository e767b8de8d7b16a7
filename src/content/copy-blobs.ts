import { availableParallelism } from 'node:os'
import { mapLimit } from '../concurrency.js'
import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import type { BlobSource, ContentStore } from './content-store.js'

/** Blobs in flight at once by default: enough to keep the disk and both cores busy on small blobs. */
export const defaultConcurrency = Math.max(4, availableParallelism() * 4)

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

/**
 * Copy one blob unless the destination already holds a verified copy (then the source is only
 * checked, when it can be). Each source the origin offers is tried in turn; one that fails (a
 * network error, bad bytes) gives way to the next.
 */
export async function copyBlob(from: ContentStore, to: ContentStore, desc: Descriptor, onBytes?: (n: number) => void): Promise<'copied' | 'present'> {
  if (await to.exists(desc)) {
    await from.checkSource?.(desc)
    return 'present'
  }
  await tryEachSource(await from.fetch(desc), desc, (source) => to.push(desc, source, onBytes))
  return 'copied'
}

/**
 * Try each source in turn until `attempt` succeeds; a source that fails (a network error, bad
 * bytes) gives way to the next. Bad bytes from a server are the server's fault (exit 4), not the
 * user's input. When every source fails, one error names each failure.
 */
export async function tryEachSource<S extends Pick<BlobSource, 'remote'>, T>(sources: S[], desc: Descriptor, attempt: (source: S) => Promise<T>): Promise<T> {
  if (sources.length === 0) throw new OcisiteError('PROTOCOL', `no source is known for ${desc.digest}`, { digest: desc.digest })
  const failures: OcisiteError[] = []
  for (const source of sources) {
    try {
      return await attempt(source)
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      const failure = source.remote && (err.code === 'SIZE_MISMATCH' || err.code === 'DIGEST_MISMATCH') ? new OcisiteError('PROTOCOL', err.message, err.context) : err
      if (sources.length === 1) throw failure
      failures.push(failure)
    }
  }
  // Credentials missing or refused say more than the other sources' failures.
  const auth = failures.find((f) => f.code === 'AUTH_FAILED')
  if (auth) throw auth
  // Only when every source was unreachable is it a network failure; a bad answer is a protocol failure.
  const code = failures.every((f) => f.code === 'NETWORK') ? 'NETWORK' : 'PROTOCOL'
  throw new OcisiteError(code, `blob ${desc.digest}: no CAS engine served a verified copy (${failures.map((f) => f.message).join('; ')})`, { digest: desc.digest })
}

/** One blob to copy, and the store it comes from. */
export interface CopyItem {
  desc: Descriptor
  from: ContentStore
}

/**
 * Copy blobs into one store with a bounded number in flight. On failure, `undo` is given the
 * blobs this copy added and those it attempted (the destination knows how to remove them), then
 * the first error is thrown.
 */
export async function copyBlobs(to: ContentStore, items: CopyItem[], options: CopyOptions & { undo?: (copied: Descriptor[], attempted: Descriptor[]) => Promise<void> } = {}): Promise<CopyTransaction> {
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

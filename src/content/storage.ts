import type { Descriptor } from '../oci/descriptor.js'
import type { BlobBytes } from './ingest/verify.js'

/**
 * A blob's bytes as a store hands them out: a local file (which a file store can clone), a
 * stream, or a filler (a socket that reads into the writer's buffers). `label` names where they
 * came from in messages. They are not yet verified: whoever reads them checks size and digest
 * (a push, or `fetchAll`), so nothing unverified is ever kept.
 */
export type Blob = BlobBytes & { label: string }

/** Reads blobs. Modelled on oras-go's content.Fetcher. */
export interface Fetcher {
  /** How to name this store in messages. */
  readonly label: string
  /**
   * Hand the blob's bytes to `use`, which verifies them as it reads. A store with several sources
   * (a remote CAS and its engines) offers the next source when `use` fails on one, so `use` may
   * run more than once; a local store calls it once.
   */
  fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T>
}

/** Stores blobs. Modelled on oras-go's content.Pusher. */
export interface Pusher {
  /**
   * Store a blob from `blob`, checking its size and digest as it arrives. It becomes visible only
   * once both match; on any failure nothing of it is left.
   */
  push(desc: Descriptor, blob: Blob, onBytes?: (n: number) => void): Promise<void>
}

/** A store that can say what it holds: its one "already there?" policy, stated in `exists`. */
export interface ReadOnlyStorage extends Fetcher {
  /** Does the store hold a verified copy of this blob? */
  exists(desc: Descriptor): Promise<boolean>
}

/** A content-addressed store that reads and writes. Modelled on oras-go's content.Storage. */
export interface Storage extends ReadOnlyStorage, Pusher {}

/** A store that can remove a blob (a rolled-back copy, a pruned blob). */
export interface Deleter {
  delete(desc: Descriptor): Promise<void>
}

/**
 * A store that knows which manifests name another as their `subject` (signatures, SBOMs): a
 * layout's index and blobs, a site's record, a live site's /v2/ referrers API.
 */
export interface ReferrerFinder {
  referrers(subject: Descriptor): Promise<Descriptor[]>
}

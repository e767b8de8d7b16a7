import type { Descriptor } from '../oci/descriptor.js'
import type { BlobBytes } from './ingest/verify.js'

/**
 * One place blobs live: an input layout, the site's `oci-cas`, a remote CAS, a pull's layout,
 * a bucket. Modelled on oras-go's content.Storage: exists, fetch, and a push that verifies.
 */
export interface ContentStore {
  /** How to name this store in messages. */
  readonly label: string
  /** Does the store hold a verified copy of this blob? */
  exists(desc: Descriptor): Promise<boolean>
  /**
   * Where the blob's bytes can be read: one source for a local store, one per CAS engine for a
   * remote one (tried in order). The bytes are unverified: `push` verifies them.
   */
  fetch(desc: Descriptor): Promise<Array<BlobSource>>
  /** Store a blob, verifying its size and digest as it arrives; nothing unverified is kept. */
  push(desc: Descriptor, from: BlobSource, onBytes?: (n: number) => void): Promise<void>
  /** Check this store's copy without moving it (an input whose blob the destination already has). */
  checkSource?(desc: Descriptor): Promise<void>
}

/** One way to read a blob's bytes, opened only when a push needs them. */
export interface BlobSource {
  label: string
  /** A server's bytes: a mismatch is the server breaking the protocol, not bad input. */
  remote?: boolean
  open(): Promise<BlobBytes>
}

/** Counters a copy keeps: how many blobs were read and hashed (the rest were trusted by stat). */
export interface CopyStats {
  hashed: number
}

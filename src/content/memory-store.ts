import { OcisiteError } from '../errors.js'
import type { Descriptor } from '../oci/descriptor.js'
import { digestOf } from '../oci/digest.js'
import { readVerified } from './read.js'
import type { Blob, Storage } from './storage.js'

/**
 * Blobs held in memory: the documents ocisite generates (referrers indexes, packed manifests)
 * before they are copied into a site or a layout. A push checks size and digest as every
 * other store's does.
 */
export class MemoryStore implements Storage {
  private readonly blobs = new Map<string, Buffer>()
  private readonly made = new Map<string, Descriptor>()
  constructor(readonly label = 'generated') {}

  /** Add bytes the caller made, and return their descriptor. */
  put(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
    const digest = digestOf(bytes)
    this.blobs.set(digest, Buffer.from(bytes))
    const desc = { mediaType, digest, size: bytes.byteLength, ...extra }
    this.made.set(digest, desc)
    return desc
  }

  /** The descriptors of what was `put`, by digest (a deterministic order). */
  descriptors(): Descriptor[] {
    return [...this.made.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.get(desc.digest)?.byteLength === desc.size
  }

  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    const bytes = this.blobs.get(desc.digest)
    if (!bytes) throw new OcisiteError('BLOB_MISSING', `${this.label}: no blob ${desc.digest}`, { digest: desc.digest })
    return use({ stream: [bytes], label: this.label })
  }

  async push(desc: Descriptor, blob: Blob, onBytes?: (n: number) => void): Promise<void> {
    const bytes = await readVerified(blob, desc)
    onBytes?.(bytes.byteLength)
    this.blobs.set(desc.digest, bytes)
  }
}

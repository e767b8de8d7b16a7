import { OcisiteError } from '../errors.js'
import { digestOf } from '../oci/digest.js'
import type { Descriptor } from '../oci/descriptor.js'

/** A small document made in memory (a manifest, config, payload or bundle) with its descriptor. */
export interface Blob {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
  readonly bytes: Buffer
}

/** Reads a blob's bytes by descriptor (from a layout, a site or a registry); the caller's store. */
export type FetchBlob = (descriptor: Descriptor) => Promise<Uint8Array>

/** Largest signature payload, bundle or signature manifest read: they are a few KiB. */
export const MAX_SIGNATURE_BYTES = 1024 * 1024

export function blobOf(bytes: Uint8Array, mediaType: string): Blob {
  const buffer = Buffer.from(bytes)
  return { mediaType, digest: digestOf(buffer), size: buffer.length, bytes: buffer }
}

/**
 * A descriptor object in go-containerregistry's field order (mediaType, size, digest,
 * annotations, artifactType), so our manifests are the bytes cosign writes.
 */
export function goDescriptor(blob: Pick<Blob, 'mediaType' | 'size' | 'digest'>, extra: { annotations?: Record<string, string>; artifactType?: string } = {}): Record<string, unknown> {
  const d: Record<string, unknown> = { mediaType: blob.mediaType, size: blob.size, digest: blob.digest }
  if (extra.annotations && Object.keys(extra.annotations).length > 0) d.annotations = sortKeys(extra.annotations)
  if (extra.artifactType) d.artifactType = extra.artifactType
  return d
}

export function descriptorOf(blob: Blob): Descriptor {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }
}

/** Fetch a blob and check its size and digest against the descriptor (signature data is untrusted). */
export async function fetchChecked(fetch: FetchBlob, descriptor: Descriptor, where: string): Promise<Buffer> {
  if (descriptor.size > MAX_SIGNATURE_BYTES) {
    throw new OcisiteError('SIGNATURE_INVALID', `${where}: blob ${descriptor.digest} is ${descriptor.size} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit for signature data`, { digest: descriptor.digest })
  }
  const bytes = Buffer.from(await fetch(descriptor))
  if (bytes.length !== descriptor.size || digestOf(bytes, descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256') !== descriptor.digest) {
    throw new OcisiteError('DIGEST_MISMATCH', `${where}: blob ${descriptor.digest} does not match its descriptor (size or digest)`, { digest: descriptor.digest })
  }
  return bytes
}

export function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k] as T]))
}

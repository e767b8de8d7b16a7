import { OcisiteError } from '../errors.js'
import { parseDigest, type Digest } from './digest.js'

/** An OCI platform object. */
export interface Platform {
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  features?: string[]
}

/** An OCI content descriptor, as found in indexes and manifests. */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  urls?: string[]
  annotations?: Record<string, string>
  platform?: Platform
  artifactType?: string
  data?: string
  [extra: string]: unknown
}

/** The OCI annotation that carries a tag in an index entry. */
export const REF_NAME = 'org.opencontainers.image.ref.name'

/** Validate an untrusted descriptor object; `where` names its source in errors. */
export function parseDescriptor(value: unknown, where: string): Descriptor & { parsedDigest: Digest } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor is not an object`)
  }
  const d = value as Record<string, unknown>
  const parsedDigest = parseDigest(d.digest, where)
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor ${parsedDigest.value} has an invalid size`, { digest: parsedDigest.value })
  }
  if (d.mediaType !== undefined && typeof d.mediaType !== 'string') {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor ${parsedDigest.value} has a non-string mediaType`)
  }
  if (d.annotations !== undefined && (typeof d.annotations !== 'object' || d.annotations === null || Array.isArray(d.annotations))) {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: descriptor ${parsedDigest.value} has invalid annotations`)
  }
  return { ...(d as unknown as Descriptor), mediaType: (d.mediaType as string | undefined) ?? '', parsedDigest }
}

/** The tag carried by a `ref.name` value: a bare tag, or what follows the last `:` after the last `/` of a full reference. */
export function tagFromRefName(refName: string): string {
  const lastSlash = refName.lastIndexOf('/')
  const tail = refName.slice(lastSlash + 1)
  const colon = tail.lastIndexOf(':')
  return colon === -1 ? tail : tail.slice(colon + 1)
}

/** Strip our internal fields so a descriptor can be written out. */
export function plainDescriptor(d: Descriptor & { parsedDigest?: Digest }): Descriptor {
  const { parsedDigest: _ignored, ...rest } = d
  return rest
}

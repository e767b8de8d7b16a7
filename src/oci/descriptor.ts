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

/** The platform an image config declares (`os`, `architecture`, …), or undefined if it names none. */
export function platformFromConfig(body: Record<string, unknown>): Platform | undefined {
  if (typeof body.os !== 'string' || typeof body.architecture !== 'string') return undefined
  const platform: Platform = { architecture: body.architecture, os: body.os }
  if (typeof body.variant === 'string') platform.variant = body.variant
  if (typeof body['os.version'] === 'string') platform['os.version'] = body['os.version']
  if (Array.isArray(body['os.features'])) platform['os.features'] = body['os.features'].filter((f): f is string => typeof f === 'string')
  return platform
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

const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}'
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
/** A full reference as docker and oras write it: `[registry[:port]/]repo/path:tag`. */
const FULL_REFERENCE = new RegExp(`^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*:(${TAG})$`)

/**
 * The tag carried by a `ref.name` value: a bare tag, or the tag of a full reference
 * (`ghcr.io/org/app:1.0`). Anything else (`foo/bar`, `../../etc/x`) is refused, naming it.
 */
export function tagFromRefName(refName: string, where: string): string {
  if (new RegExp(`^${TAG}$`).test(refName)) return refName
  const full = FULL_REFERENCE.exec(refName)
  if (full) return full[1]!
  throw new OcisiteError('TAG_INVALID', `${where}: ref name "${refName}" is neither a tag nor a full reference ending in one (registry/repo:tag)`, { refName })
}

/** Strip our internal fields so a descriptor can be written out. */
export function plainDescriptor(d: Descriptor & { parsedDigest?: Digest }): Descriptor {
  const { parsedDigest: _ignored, ...rest } = d
  return rest
}

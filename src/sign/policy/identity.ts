import { OcisiteError } from '../../errors.js'
import { formatReference, isNameOnly, parseDockerReference, type DockerReference } from '../reference.js'

/** A policy.json `signedIdentity` (containers-policy.json(5)). */
export type SignedIdentity =
  | { readonly type: 'matchExact' }
  | { readonly type: 'matchRepoDigestOrExact' }
  | { readonly type: 'matchRepository' }
  | { readonly type: 'exactReference'; readonly dockerReference: string }
  | { readonly type: 'exactRepository'; readonly dockerRepository: string }
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string }

/** The default when `signedIdentity` is absent. */
export const DEFAULT_IDENTITY: SignedIdentity = { type: 'matchRepoDigestOrExact' }

/**
 * Whether a signature claiming `signed` (its docker-reference, untrusted text) satisfies `rule`
 * for an image fetched as `intended`, exactly as containers/image's policy_reference_match.go.
 */
export function identityMatches(rule: SignedIdentity, intended: DockerReference, signed: string): boolean {
  const signature = parseDockerReference(signed)
  if (!signature) return false
  switch (rule.type) {
    case 'matchExact':
      return !isNameOnly(intended) && !isNameOnly(signature) && formatReference(signature) === formatReference(intended)
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(intended, signature)
    case 'matchRepository':
      return signature.name === intended.name
    case 'exactReference': {
      const want = parseDockerReference(rule.dockerReference)
      return !!want && !isNameOnly(want) && !isNameOnly(signature) && formatReference(signature) === formatReference(want)
    }
    case 'exactRepository':
      return signature.name === parseDockerReference(rule.dockerRepository)?.name
    case 'remapIdentity': {
      const remapped = remap(intended, rule.prefix, rule.signedPrefix)
      return !!remapped && repoDigestOrExact(remapped, signature)
    }
  }
}

/** A tag must match exactly; a digest reference accepts any signed tag of the same repository. */
function repoDigestOrExact(intended: DockerReference, signature: DockerReference): boolean {
  if (isNameOnly(signature)) return false
  if (intended.tag !== undefined) return formatReference(signature) === formatReference(intended)
  if (intended.digest !== undefined) return signature.name === intended.name
  return false
}

/** Replace `prefix` (matching whole path segments of the name) by `signedPrefix`. */
function remap(ref: DockerReference, prefix: string, signedPrefix: string): DockerReference | undefined {
  const name = ref.name
  const matches = name === prefix || (name.startsWith(prefix) && name[prefix.length] === '/')
  if (!matches) return ref
  return parseDockerReference(signedPrefix + formatReference(ref).slice(prefix.length))
}

// host[:port] or a namespace or a repository, fully expanded, without tag or digest.
const PREFIX = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/

/** Validate a `signedIdentity` object as containers/image does; `where` names it in errors. */
export function parseSignedIdentity(value: unknown, where: string): SignedIdentity {
  if (value === undefined) return DEFAULT_IDENTITY
  const bad = (what: string): OcisiteError => new OcisiteError('POLICY_INVALID', `${where}: ${what}`)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('signedIdentity is not an object')
  const v = value as Record<string, unknown>
  const fields = (...allowed: string[]): void => {
    const extra = Object.keys(v).find((k) => k !== 'type' && !allowed.includes(k))
    if (extra !== undefined) throw bad(`signedIdentity ${String(v.type)} has an unknown field "${extra}"`)
  }
  switch (v.type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      fields()
      return { type: v.type }
    case 'exactReference': {
      fields('dockerReference')
      const ref = typeof v.dockerReference === 'string' ? parseDockerReference(v.dockerReference) : undefined
      if (!ref || isNameOnly(ref)) throw bad(`exactReference.dockerReference ${JSON.stringify(v.dockerReference)} is not a reference with a tag or digest`)
      return { type: 'exactReference', dockerReference: v.dockerReference as string }
    }
    case 'exactRepository': {
      fields('dockerRepository')
      if (typeof v.dockerRepository !== 'string' || !parseDockerReference(v.dockerRepository)) throw bad(`exactRepository.dockerRepository ${JSON.stringify(v.dockerRepository)} is not a repository`)
      return { type: 'exactRepository', dockerRepository: v.dockerRepository }
    }
    case 'remapIdentity':
      fields('prefix', 'signedPrefix')
      for (const key of ['prefix', 'signedPrefix'] as const) {
        if (typeof v[key] !== 'string' || !PREFIX.test(v[key] as string)) throw bad(`remapIdentity.${key} ${JSON.stringify(v[key])} is not a host, namespace or repository`)
      }
      return { type: 'remapIdentity', prefix: v.prefix as string, signedPrefix: v.signedPrefix as string }
    default:
      throw bad(`unknown signedIdentity type ${JSON.stringify(v.type)}`)
  }
}

import { OcisiteError } from '../../errors.js'
import { scopesOf, type DockerReference } from '../reference.js'
import { parseSignedIdentity, type SignedIdentity } from './identity.js'

/** Where a requirement's keys are: files (read when the requirement applies) or inline data. */
export type KeySource = { readonly paths: readonly string[] } | { readonly data: readonly Buffer[] }

/** One policy requirement of containers-policy.json(5) that ocisite can evaluate. */
export type Requirement =
  | { readonly type: 'insecureAcceptAnything' }
  | { readonly type: 'reject' }
  | { readonly type: 'signedBy'; readonly keys: KeySource; readonly signedIdentity: SignedIdentity }
  | { readonly type: 'sigstoreSigned'; readonly keys: KeySource; readonly signedIdentity: SignedIdentity }

/** A parsed containers policy.json: the global default and the `docker` transport's scopes. */
export interface ContainersPolicy {
  readonly kind: 'containers'
  readonly file: string
  readonly default: readonly Requirement[]
  readonly docker: ReadonlyMap<string, readonly Requirement[]>
}

/**
 * Parse policy.json as strictly as containers/image: unknown or duplicated fields, empty
 * requirement lists and unknown types refuse the whole file, naming it. Every transport is
 * checked (one file serves podman and skopeo too); only `docker` scopes are used. `fulcio`,
 * `pki` and Rekor keys are refused: they need Fulcio/Rekor, which ocisite does not contact.
 */
export function parseContainersPolicy(text: string, file: string): ContainersPolicy {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new OcisiteError('POLICY_INVALID', `${file}: invalid JSON (${(err as Error).message})`, { file }, { cause: err })
  }
  const top = object(doc, file, 'the policy')
  only(top, ['default', 'transports'], file, 'the policy')
  if (top.default === undefined) throw invalid(file, 'no "default" requirements (they are mandatory)')
  const transports = top.transports === undefined ? {} : object(top.transports, file, 'transports')
  const docker = new Map<string, readonly Requirement[]>()
  for (const [transport, scopes] of Object.entries(transports)) {
    for (const [scope, list] of Object.entries(object(scopes, file, `transports.${transport}`))) {
      const requirements = parseRequirements(list, file, `transports.${transport}["${scope}"]`)
      if (transport === 'docker') docker.set(scope, requirements)
    }
  }
  return { kind: 'containers', file, default: parseRequirements(top.default, file, 'default'), docker }
}

/**
 * The requirements that apply to a reference: the most specific `docker` scope (the reference
 * itself, its repository, namespaces, host, `*.` wildcards), then the transport's `""`, then
 * `default`; with the scope that chose them, for messages.
 */
export function requirementsFor(policy: ContainersPolicy, ref: DockerReference): { scope: string; requirements: readonly Requirement[] } {
  for (const scope of scopesOf(ref)) {
    const found = policy.docker.get(scope)
    if (found) return { scope: `transports.docker["${scope}"]`, requirements: found }
  }
  const transportDefault = policy.docker.get('')
  if (transportDefault) return { scope: 'transports.docker[""]', requirements: transportDefault }
  return { scope: 'default', requirements: policy.default }
}

function parseRequirements(value: unknown, file: string, where: string): Requirement[] {
  if (!Array.isArray(value)) throw invalid(file, `${where} is not a list of requirements`)
  if (value.length === 0) throw invalid(file, `${where} is empty (write [{"type":"reject"}] or [{"type":"insecureAcceptAnything"}])`)
  return value.map((r, i) => parseRequirement(r, file, `${where}[${i}]`))
}

function parseRequirement(value: unknown, file: string, where: string): Requirement {
  const r = object(value, file, where)
  switch (r.type) {
    case 'insecureAcceptAnything':
    case 'reject':
      only(r, ['type'], file, where)
      return { type: r.type }
    case 'signedBy':
      only(r, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], file, where)
      if (r.keyType !== 'GPGKeys') throw invalid(file, `${where}: keyType ${JSON.stringify(r.keyType)} is not supported (only "GPGKeys")`)
      return { type: 'signedBy', keys: keySource(r, ['keyPath', 'keyPaths', 'keyData'], file, where), signedIdentity: parseSignedIdentity(r.signedIdentity, `${file}: ${where}`) }
    case 'sigstoreSigned': {
      const offline = ['fulcio', 'pki', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'].find((k) => r[k] !== undefined)
      if (offline) throw invalid(file, `${where}: "${offline}" is not supported: it needs Fulcio or Rekor, which ocisite does not use (use keyPath or keyData)`)
      only(r, ['type', 'keyPath', 'keyPaths', 'keyData', 'keyDatas', 'signedIdentity'], file, where)
      return { type: 'sigstoreSigned', keys: keySource(r, ['keyPath', 'keyPaths', 'keyData', 'keyDatas'], file, where), signedIdentity: parseSignedIdentity(r.signedIdentity, `${file}: ${where}`) }
    }
    default:
      throw invalid(file, `${where}: unknown requirement type ${JSON.stringify(r.type)}`)
  }
}

/** Exactly one of the key fields: a path, paths, base64 data or a list of base64 data. */
function keySource(r: Record<string, unknown>, fields: string[], file: string, where: string): KeySource {
  const present = fields.filter((f) => r[f] !== undefined)
  if (present.length !== 1) throw invalid(file, `${where}: exactly one of ${fields.join(', ')} is needed (found ${present.length === 0 ? 'none' : present.join(', ')})`)
  const field = present[0]!
  const value = r[field]
  const strings = field.endsWith('s') ? value : [value]
  if (!Array.isArray(strings) || strings.length === 0 || strings.some((s) => typeof s !== 'string' || s === '')) {
    throw invalid(file, `${where}: ${field} must be ${field.endsWith('s') ? 'a non-empty list of strings' : 'a non-empty string'}`)
  }
  if (field.startsWith('keyPath')) return { paths: strings as string[] }
  return {
    data: (strings as string[]).map((s) => {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) throw invalid(file, `${where}: ${field} is not base64`)
      return Buffer.from(s, 'base64')
    }),
  }
}

function object(value: unknown, file: string, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(file, `${what} is not a JSON object`)
  return value as Record<string, unknown>
}

function only(o: Record<string, unknown>, allowed: string[], file: string, where: string): void {
  const extra = Object.keys(o).find((k) => !allowed.includes(k))
  if (extra !== undefined) throw invalid(file, `${where} has an unknown field "${extra}"`)
}

function invalid(file: string, what: string): OcisiteError {
  return new OcisiteError('POLICY_INVALID', `${file}: ${what}`, { file })
}

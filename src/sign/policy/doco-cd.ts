import { parse as parseYaml } from 'yaml'
import { OcisiteError } from '../../errors.js'
import { parsePublicKey, type VerifyingKey } from '../keys.js'

/** doco-cd's trust policy (its wiki, "Trust-Policy"), as ocisite can honour it: keys only. */
export interface DocoCdPolicy {
  readonly kind: 'doco-cd'
  readonly file: string
  /** false: verification is off and anything is accepted, as in doco-cd. */
  readonly enabled: boolean
  readonly keys: readonly VerifyingKey[]
  /** Things ignored that a user should hear about (keyless identities next to keys). */
  readonly warnings: readonly string[]
}

const FIELDS = ['enabled', 'public_keys', 'keyless_identities']

/**
 * Parse doco-cd's trust-policy YAML: `enabled`, `public_keys` (PEM; ECDSA P-256, RSA, Ed25519)
 * and `keyless_identities`. Keyless identities need Fulcio and Rekor, which ocisite does not
 * use: next to keys they are ignored with a warning; alone (nothing could ever be accepted) the
 * file is refused. Unknown fields are refused, so a typo such as `enable:` cannot turn
 * verification off.
 */
export function parseDocoCdPolicy(text: string, file: string): DocoCdPolicy {
  const doc = parseDocument(text, file)
  const extra = Object.keys(doc).find((k) => !FIELDS.includes(k))
  if (extra !== undefined) throw invalid(file, `unknown field "${extra}" (a doco-cd trust policy has ${FIELDS.join(', ')})`)
  if (doc.enabled !== undefined && typeof doc.enabled !== 'boolean') throw invalid(file, '"enabled" is not true or false')
  const enabled = doc.enabled === true
  const pems = doc.public_keys ?? []
  if (!Array.isArray(pems) || pems.some((p) => typeof p !== 'string')) throw invalid(file, '"public_keys" is not a list of PEM strings')
  const keys = (pems as string[]).map((pem, i) => parsePublicKey(pem, `${file}: public_keys[${i}]`))
  const keyless = doc.keyless_identities ?? []
  if (!Array.isArray(keyless)) throw invalid(file, '"keyless_identities" is not a list')
  const warnings: string[] = []
  if (keyless.length > 0) {
    const why = 'keyless identities need Fulcio and Rekor, which ocisite does not use'
    if (enabled && keys.length === 0) throw invalid(file, `only keyless_identities, which are not supported: ${why}; add public_keys`)
    warnings.push(`${file}: keyless_identities ignored (${why}); only public_keys are checked`)
  }
  if (enabled && keys.length === 0 && keyless.length === 0) throw invalid(file, 'enabled, but no public_keys: nothing could be accepted')
  return { kind: 'doco-cd', file, enabled, keys, warnings }
}

function parseDocument(text: string, file: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new OcisiteError('POLICY_INVALID', `${file}: invalid YAML (${(err as Error).message.split('\n')[0]})`, { file }, { cause: err })
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(file, 'not a doco-cd trust policy (want a YAML map)')
  return doc as Record<string, unknown>
}

function invalid(file: string, what: string): OcisiteError {
  return new OcisiteError('POLICY_INVALID', `${file}: ${what}`, { file })
}

import { parseTemplate, type PrimitiveValue } from 'url-template'
import { OcisiteError } from '../errors.js'

/** Where a host serves its ref-engines document (the discovery protocol's well-known URI path). */
export const WELL_KNOWN_PATH = '/.well-known/oci-host-ref-engines'

/** A ref-engine or CAS-engine config object as found in documents: `protocol` plus its own fields. */
export interface EngineConfig {
  protocol: string
  uri?: string
  [field: string]: unknown
}

/** A CAS engine ocisite can use: an absolute `oci-cas-template-v1` URI template. */
export interface CasEngine {
  protocol: 'oci-cas-template-v1'
  uri: string
}

/** Expand an RFC 6570 template (levels 1-4) and resolve the result against `base` (RFC 3986 §5). */
export function expandUri(template: string, vars: Record<string, PrimitiveValue>, base: string): string {
  let expanded: string
  try {
    expanded = parseTemplate(template).expand(vars)
  } catch (err) {
    throw new OcisiteError('PROTOCOL', `invalid URI template "${template}" (${(err as Error).message})`)
  }
  try {
    return new URL(expanded, base).toString()
  } catch (err) {
    throw new OcisiteError('PROTOCOL', `URI template "${template}" expands to "${expanded}", which does not resolve against ${base}`, {}, { cause: err })
  }
}

/** Make a relative URI template absolute against the document that carried it, keeping its expressions. */
export function absoluteTemplate(template: string, base: string): string {
  const expressions: string[] = []
  const masked = template.replace(/\{[^}]*\}/g, (e) => `ocisite-expr-${expressions.push(e) - 1}-`)
  let resolved: string
  try {
    resolved = new URL(masked, base).toString()
  } catch (err) {
    throw new OcisiteError('PROTOCOL', `URI template "${template}" does not resolve against ${base}`, {}, { cause: err })
  }
  return resolved.replace(/ocisite-expr-(\d+)-/g, (_, i: string) => expressions[Number(i)] ?? '')
}

/** Validate untrusted engine lists; entries without a string `protocol` are dropped as unusable. */
export function engineList(value: unknown): EngineConfig[] {
  if (!Array.isArray(value)) return []
  return value.filter((e): e is EngineConfig => typeof e === 'object' && e !== null && typeof (e as EngineConfig).protocol === 'string')
}

/** The CAS engines among `configs` that ocisite supports, made absolute against `base`. Unknown protocols are ignored. */
export function casEngines(configs: EngineConfig[], base: string): CasEngine[] {
  return configs
    .filter((c) => c.protocol === 'oci-cas-template-v1' && typeof c.uri === 'string')
    .map((c) => ({ protocol: 'oci-cas-template-v1' as const, uri: absoluteTemplate(c.uri as string, base) }))
}

/** Merge engine lists, first occurrence wins. */
export function uniqueEngines(...lists: CasEngine[][]): CasEngine[] {
  const byUri = new Map<string, CasEngine>()
  for (const e of lists.flat()) if (!byUri.has(e.uri)) byUri.set(e.uri, e)
  return [...byUri.values()]
}

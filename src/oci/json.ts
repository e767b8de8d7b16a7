import { canonicalize } from 'json-canonicalize'
import { OcisiteError } from '../errors.js'

/** Largest manifest or index (the distribution spec's 4 MiB), and any JSON document by default. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024

/** Largest image config read (for its platform): configs carry history and may outgrow manifests. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024

/** Deepest nesting accepted; real OCI documents stay under ten. Checked before parsing. */
export const MAX_JSON_DEPTH = 100

/** The nesting depth of JSON text, scanned without parsing (strings and escapes skipped). */
export function jsonDepth(bytes: Uint8Array, stopAbove = Infinity): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > stopAbove) return max
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return max
}

/** Parse untrusted JSON bytes into an object, naming `where` on failure. */
export function parseJsonObject(bytes: Uint8Array, where: string, maxBytes = MAX_JSON_BYTES): Record<string, unknown> {
  if (bytes.byteLength > maxBytes) {
    throw new OcisiteError('JSON_INVALID', `${where}: JSON document is ${bytes.byteLength} bytes, over the ${maxBytes}-byte limit`)
  }
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new OcisiteError('JSON_INVALID', `${where}: JSON nested deeper than ${MAX_JSON_DEPTH} levels`)
  }
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new OcisiteError('JSON_INVALID', `${where}: invalid JSON (${(err as Error).message})`, {}, { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OcisiteError('JSON_INVALID', `${where}: JSON document is not an object`)
  }
  return value as Record<string, unknown>
}

/** RFC 8785 canonical JSON (JCS), as bytes: the same value always gives the same bytes. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8')
}

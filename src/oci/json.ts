import { OcisiteError } from '../errors.js'

/** Largest JSON document ocisite parses from a layout or a server. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024

/** Parse untrusted JSON bytes into an object, naming `where` on failure. */
export function parseJsonObject(bytes: Uint8Array, where: string): Record<string, unknown> {
  if (bytes.byteLength > MAX_JSON_BYTES) {
    throw new OcisiteError('JSON_INVALID', `${where}: JSON document is ${bytes.byteLength} bytes, over the ${MAX_JSON_BYTES}-byte limit`)
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

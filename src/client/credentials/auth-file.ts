import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { MAX_JSON_BYTES } from '../../oci/json.js'
import { Credential, keyMatchesHost, keyPathScore, parseAuthKey, type AuthKey, type CredentialTarget } from './credential.js'

/** Docker's config.json and the containers auth.json share this shape. */
export interface AuthFile {
  file: string
  /** How messages name the file: `~/.docker/config.json`, `$REGISTRY_AUTH_FILE (/path)`. */
  label: string
  auths: Record<string, unknown>
  credHelpers: Record<string, string>
  credsStore: string | undefined
}

/** `~/…` for a path under the home directory, else the path itself. */
export function displayPath(file: string, home: string): string {
  const rel = path.relative(home, file)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `~/${rel}` : file
}

function stringMap(value: unknown, label: string, field: string): Record<string, string> {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new OcisiteError('CONFIG_INVALID', `${label}: "${field}" is not an object of strings`, { field })
  }
  return value as Record<string, string>
}

/**
 * Parse a file that holds secrets. V8's JSON.parse message quotes the text around a syntax error,
 * which here may be a password, so only the position is kept and the parser's error is not
 * attached as the cause (the one place a cause is dropped on purpose).
 */
function parseSecretJson(bytes: Buffer, label: string, file: string): Record<string, unknown> {
  if (bytes.byteLength > MAX_JSON_BYTES) {
    throw new OcisiteError('CONFIG_INVALID', `${label}: ${bytes.byteLength} bytes, over the ${MAX_JSON_BYTES}-byte limit for an auth file`, { file })
  }
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err
    const at = /position (\d+)/.exec(err.message)?.[1]
    throw new OcisiteError('CONFIG_INVALID', `${label}: invalid JSON${at ? ` at character ${at}` : ''}`, { file })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OcisiteError('CONFIG_INVALID', `${label}: not a JSON object`, { file })
  }
  return value as Record<string, unknown>
}

/** Read an auth file; undefined when there is none (ENOENT only: a file we may not read is an error). */
export async function readAuthFile(file: string, label: string): Promise<AuthFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new OcisiteError('CONFIG_INVALID', `${label}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file }, { cause: err })
  }
  const doc = parseSecretJson(bytes, label, file)
  const auths = doc.auths ?? {}
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
    throw new OcisiteError('CONFIG_INVALID', `${label}: "auths" is not an object`, { file })
  }
  if (doc.credsStore !== undefined && typeof doc.credsStore !== 'string') {
    throw new OcisiteError('CONFIG_INVALID', `${label}: "credsStore" is not a string`, { file })
  }
  return { file, label, auths: auths as Record<string, unknown>, credHelpers: stringMap(doc.credHelpers, label, 'credHelpers'), credsStore: doc.credsStore || undefined }
}

/** Decode an `auth` value: base64 of `user:password` (the password may hold colons). */
function decodeAuth(value: string, label: string, key: string): { username: string; password: string } {
  const compact = value.replace(/\s+/g, '')
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(compact) ? Buffer.from(compact, 'base64').toString('utf8') : ''
  const colon = decoded.indexOf(':')
  if (colon <= 0) {
    throw new OcisiteError('CONFIG_INVALID', `${label}: the "auth" for "${key}" is not base64 of user:password`, { file: label, key })
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/**
 * How an auth file's keys are read. Docker keeps only the host (`https://index.docker.io/v1/` is
 * index.docker.io); containers' auth.json also has `host/namespace` keys, the most specific
 * winning, and reads a key with a scheme as host only (its legacy form).
 */
export type KeyStyle = 'docker' | 'containers'

function usableKey(raw: string, style: KeyStyle): AuthKey | undefined {
  const key = parseAuthKey(raw)
  if (!key) return undefined
  return style === 'docker' || key.scheme ? { ...key, path: '' } : key
}

/** The keys of `entries` that name the target, best first: most specific path, then a bare key, then in sorted order. */
export function matchingKeys(entries: Iterable<string>, target: CredentialTarget, style: KeyStyle): string[] {
  const scored: Array<{ raw: string; score: number; bare: boolean }> = []
  for (const raw of entries) {
    const key = usableKey(raw, style)
    if (!key || !keyMatchesHost(key, target)) continue
    const score = keyPathScore(key, target)
    if (score >= 0) scored.push({ raw, score, bare: !/^[a-z]+:\/\//i.test(raw) })
  }
  scored.sort((a, b) => b.score - a.score || Number(b.bare) - Number(a.bare) || (a.raw < b.raw ? -1 : a.raw > b.raw ? 1 : 0))
  return scored.map((s) => s.raw)
}

/** The credential an `auths` entry with a base64 `auth` gives the target, if any. */
export function credentialFromAuths(doc: AuthFile, target: CredentialTarget, style: KeyStyle): Credential | undefined {
  for (const key of matchingKeys(Object.keys(doc.auths), target, style)) {
    const entry = doc.auths[key]
    if (typeof entry !== 'object' || entry === null) continue
    const auth = (entry as Record<string, unknown>).auth
    if (auth === undefined || auth === '') continue // `docker login` with a credsStore leaves `{}`
    if (typeof auth !== 'string') throw new OcisiteError('CONFIG_INVALID', `${doc.label}: the "auth" for "${key}" is not a string`, { file: doc.file, key })
    const { username, password } = decodeAuth(auth, doc.label, key)
    return new Credential(username, password, doc.label)
  }
  return undefined
}

/** The credential helper an auth file names for the target: its `credHelpers` entry, else its `credsStore`. */
export function helperFor(doc: AuthFile, target: CredentialTarget, style: KeyStyle): { name: string; via: string } | undefined {
  const [key] = matchingKeys(Object.keys(doc.credHelpers), target, style)
  const named = key === undefined ? undefined : doc.credHelpers[key]
  if (named) return { name: named, via: `credHelpers in ${doc.label}` }
  if (style === 'docker' && doc.credsStore) return { name: doc.credsStore, via: `credsStore in ${doc.label}` }
  return undefined
}

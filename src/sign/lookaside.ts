import { OcisiteError } from '../errors.js'
import { parseDigest } from '../oci/digest.js'

/**
 * The lookaside layout containers/image reads and skopeo writes (containers-registries.d(5)):
 * `<repository>@<algorithm>=<hex>/signature-<n>`, n = 1, 2, … until the first one missing.
 * The repository is the path without the host, as in the site.
 */
export interface LookasideEntry {
  readonly repository: string
  readonly digest: string
  /** 1-based. */
  readonly index: number
}

// A repository segment: no empty, `.` or `..` segment, nothing that could leave a directory.
const SEGMENT = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/

/** The relative path of a signature in a lookaside tree (also its URL path under the lookaside). */
export function lookasidePath(entry: LookasideEntry): string {
  const digest = parseDigest(entry.digest, 'lookaside path')
  checkRepository(entry.repository, entry.repository)
  if (!Number.isSafeInteger(entry.index) || entry.index < 1) throw new OcisiteError('PATH_INVALID', `lookaside: signature index ${entry.index} is not 1 or more`)
  return `${entry.repository}@${digest.algorithm}=${digest.encoded}/signature-${entry.index}`
}

/**
 * Parse a relative path of a lookaside tree (`/`-separated); undefined if it is not a signature
 * path at all (so a caller can name stray files), PATH_INVALID if it is one but malformed.
 */
export function parseLookasidePath(rel: string): LookasideEntry | undefined {
  const m = /^(.+)@([a-z0-9]+)=([^/]+)\/signature-(\d+)$/.exec(rel)
  if (!m) return undefined
  const [, repository, algorithm, hex, n] = m as unknown as [string, string, string, string, string]
  checkRepository(repository, rel)
  const digest = parseDigest(`${algorithm}:${hex}`, rel).value
  const index = Number(n)
  if (!/^[1-9]\d*$/.test(n) || !Number.isSafeInteger(index)) throw new OcisiteError('PATH_INVALID', `${rel}: signature index "${n}" is not 1, 2, …`, { path: rel })
  return { repository, digest, index }
}

/** The URL of signature `index` of `digest` in `repository` under a lookaside base URL. */
export function lookasideUrl(base: string, entry: LookasideEntry): string {
  return `${base.replace(/\/+$/, '')}/${lookasidePath(entry)}`
}

function checkRepository(repository: string, where: string): void {
  const bad = repository.split('/').find((s) => !SEGMENT.test(s))
  if (bad !== undefined) throw new OcisiteError('PATH_INVALID', `${where}: repository segment "${bad}" is not allowed in a lookaside path`, { path: where })
}

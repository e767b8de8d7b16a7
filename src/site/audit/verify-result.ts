import type { HttpOptions } from '../../http/client.js'

/** What kind of thing a problem is; `--json` carries these names. */
export type ProblemKind =
  | 'unreachable'
  | 'status'
  | 'content-type'
  | 'charset'
  | 'cache-control'
  | 'header'
  | 'size'
  | 'digest'
  | 'document'
  | 'v2-tag'
  | 'tags-list'
  | 'catalog'
  | 'unknown-name'
  | 'tag-missing'

export interface Problem {
  kind: ProblemKind
  /** The URL (or, for a directory, the request path) at fault. */
  url: string
  message: string
}

export interface VerifyOptions extends HttpOptions {
  /** Download and hash every blob (default: HEAD and compare sizes). */
  deep?: boolean
  /** Image paths to check; default: every image the site lists (`/v2/_catalog`, or a directory's oci-index). */
  names?: string[]
  /** Requests at once (default 16). */
  concurrency?: number
  cwd?: string
}

export interface VerifyResult {
  target: string
  ok: boolean
  deep: boolean
  /** The site serves the /v2/ distribution API. */
  v2: boolean
  checked: { requests: number; images: number; tags: number; manifests: number; blobs: number }
  problems: Problem[]
}

/** What a request must answer: status, type, caching, digest and size headers. */
export interface Expect {
  method?: 'GET' | 'HEAD'
  status?: number
  statusKind?: ProblemKind
  absentOk?: boolean
  type?: string
  charset?: boolean
  cache?: 'document' | 'immutable'
  digest?: string
  size?: number
  accept?: string
  what: string
}

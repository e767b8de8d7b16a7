import type { BucketOptions } from '../../content/bucket-store.js'
import type { HttpOptions } from '../../http/client.js'
import type { Descriptor } from '../../oci/descriptor.js'
import type { CasEngine } from '../../oci/engines.js'
import type { RefusalReason } from '../../sign/check.js'
import type { GraphNode } from '../../oci/node.js'

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
  /** A containers signature at /signatures/ that cannot be read, or is no OpenPGP message. */
  | 'lookaside'
  /** `--policy`: a tag with no signature the policy accepts. */
  | 'unsigned'
  /** `--policy`: a tag whose signatures the policy refuses (unknown key, bad signature, digest or identity mismatch). */
  | 'signature'

export interface Problem {
  kind: ProblemKind
  /** The URL (or, for a directory, the request path) at fault. */
  url: string
  message: string
  /** `--policy` problems: the tag (`host/repo#tag`), its digest, and why the policy refuses it (as pull says it). */
  name?: string
  digest?: string
  reason?: RefusalReason
}

export interface VerifyOptions extends HttpOptions {
  /** Download and hash every blob (default: HEAD and compare sizes). */
  deep?: boolean
  /** Image paths to check; default: every image the site lists (`/v2/_catalog`, or a directory's oci-index). */
  names?: string[]
  /** Requests at once (default 16). */
  concurrency?: number
  cwd?: string
  /** For `s3://BUCKET[/PREFIX]`: how to reach the bucket (deploy's --endpoint, --path-style, --region). */
  bucket?: BucketOptions
  /** Check every tag's signatures against this policy (containers' policy.json or doco-cd's trust policy). */
  policy?: string
  /** registries.d naming the lookaside (default as containers/image; else the site's /signatures/). */
  registriesD?: string
  /** Where `$CONTAINERS_REGISTRIES_D` and `$HOME` are read (default process.env). */
  env?: NodeJS.ProcessEnv
}

export interface VerifyResult {
  target: string
  ok: boolean
  deep: boolean
  /** The site serves the /v2/ distribution API. */
  v2: boolean
  checked: { requests: number; images: number; tags: number; manifests: number; blobs: number; signed?: number }
  /** With `--policy`: the policy file every tag was checked against (`checked.signed`: tags it accepts). */
  policy?: string
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

/** Where the site's indexes and CAS are, as its well-known document says. */
export interface Engines {
  refEngineUri: string
  siteCas: CasEngine[]
  /** The /v2/ base URL (the site's root /v2/). */
  base: string
}

/** One image's index as the site serves it: its tags, the CAS engines of each entry, and every node reached. */
export interface ImageView {
  indexUrl: string
  tags: Map<string, Descriptor>
  cas: Map<string, CasEngine[]>
  found: Map<string, GraphNode>
}

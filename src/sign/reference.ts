/**
 * Docker references as containers/image and cosign compare them (`reference.ParseNormalizedNamed`):
 * `[domain/]path[:tag][@digest]`, fully expanded (`busybox` is `docker.io/library/busybox`).
 */
export interface DockerReference {
  /** The fully expanded repository: `domain/path`. */
  readonly name: string
  readonly tag?: string
  readonly digest?: string
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = `(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]+)?`
const TAG = '[\\w][\\w.-]{0,127}'
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}'
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`)
const DOMAIN_ONLY = new RegExp(`^${DOMAIN}$`)
const NAME_TOTAL_MAX = 255

/** Parse and normalise a docker reference; undefined if it is not one (as c/image would refuse it). */
export function parseDockerReference(text: string): DockerReference | undefined {
  if (/^[a-f0-9]{64}$/.test(text)) return undefined // an image ID, not a name
  const expanded = expandDomain(text)
  if (expanded === undefined) return undefined
  const m = REFERENCE.exec(expanded)
  if (!m || m[1]!.length > NAME_TOTAL_MAX) return undefined
  return { name: m[1]!, ...(m[2] !== undefined ? { tag: m[2] } : {}), ...(m[3] !== undefined ? { digest: m[3] } : {}) }
}

/** `docker.io` and `library/` for short names, as docker's normalisation does. */
function expandDomain(text: string): string | undefined {
  const slash = text.indexOf('/')
  const first = slash === -1 ? '' : text.slice(0, slash)
  const hasDomain = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  if (hasDomain) {
    if (!DOMAIN_ONLY.test(first)) return undefined
    return first === 'index.docker.io' ? `docker.io${text.slice(slash)}` : text
  }
  return slash === -1 ? `docker.io/library/${text}` : `docker.io/${text}`
}

/** The reference as text: `name[:tag][@digest]`. */
export function formatReference(ref: DockerReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`
}

/** A reference with neither tag nor digest (what cosign claims: the repository only). */
export function isNameOnly(ref: DockerReference): boolean {
  return ref.tag === undefined && ref.digest === undefined
}

/** The reference of what a client fetches: `host/repository` with a tag or a digest. */
export function referenceOf(host: string, repository: string, tagOrDigest: { tag?: string; digest?: string }): DockerReference {
  const name = `${host}/${repository}`
  if (tagOrDigest.tag !== undefined) return { name, tag: tagOrDigest.tag }
  if (tagOrDigest.digest !== undefined) return { name, digest: tagOrDigest.digest }
  return { name }
}

/**
 * The scopes that apply to a reference, most specific first, as containers/image walks them for
 * policy.json and registries.d: `name:tag` (or `name@digest`), the repository, each parent
 * namespace, the host (with port), then `*.`-wildcards of the host's parent domains.
 */
export function scopesOf(ref: DockerReference): string[] {
  const scopes: string[] = []
  if (ref.tag !== undefined) scopes.push(`${ref.name}:${ref.tag}`)
  else if (ref.digest !== undefined) scopes.push(`${ref.name}@${ref.digest}`)
  let name = ref.name
  for (;;) {
    scopes.push(name)
    const slash = name.lastIndexOf('/')
    if (slash === -1) break
    name = name.slice(0, slash)
  }
  let host = name.startsWith('[') ? '' : name.replace(/:\d+$/, '')
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.')) {
    host = host.slice(dot + 1)
    scopes.push(`*.${host}`)
  }
  return scopes
}

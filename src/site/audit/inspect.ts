import { OcisiteError } from '../../errors.js'
import type { HttpOptions } from '../../http/client.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { MAX_JSON_BYTES } from '../../oci/json.js'
import { isIndexType } from '../../oci/media-types.js'
import { checkImagePath, checkTag } from '../../oci/names.js'
import { parseNode } from '../../oci/node.js'
import { parseDigest } from '../../oci/digest.js'
import { parseHost } from '../../oci/image-name.js'
import { describeTag, type ManifestFacts, type ReferrerFacts } from '../facts/tag-facts.js'
import { SiteReader, type IndexedTag } from './site-reader.js'

export interface InspectOptions extends HttpOptions {
  /** Only the manifest of this platform (`os/arch[/variant]`) of a multi-platform index. */
  platform?: string
  cwd?: string
}

/** What `inspect` shows of one tag or digest. */
export interface InspectResult {
  path: string
  /** The tag or digest asked for. */
  reference: string
  digest: string
  mediaType: string
  size: number
  artifactType?: string
  created?: string
  /** The image's tags that name this digest. */
  tags: string[]
  /** `org.opencontainers.image.*` annotations by short name (source, revision, description, …). */
  annotations: Record<string, string>
  /** The manifest, or each platform's: config (os, architecture, created, entrypoint, labels) and layers. */
  manifests: ManifestFacts[]
  referrers: ReferrerFacts[]
  signed: boolean
}

/** `PATH#TAG` or `PATH@DIGEST` (a `host/` before the path is the caller's to strip). */
export function parseReference(text: string, where: string): { path: string; tag?: string; digest?: string } {
  const at = text.lastIndexOf('@')
  const hash = text.lastIndexOf('#')
  if (at > 0 && at > hash) return { path: checkImagePath(text.slice(0, at), where), digest: parseDigest(text.slice(at + 1), where).value }
  if (hash > 0) return { path: checkImagePath(text.slice(0, hash), where), tag: checkTag(text.slice(hash + 1), where) }
  throw new OcisiteError('NAME_INVALID', `${where}: name a tag or a digest: PATH#TAG or PATH@sha256:…`, { name: text })
}

/** The descriptor a digest names: a tag's, or one platform's of a tagged index. */
async function findDigest(site: SiteReader, tags: IndexedTag[], path: string, digest: string): Promise<IndexedTag | undefined> {
  const tagged = tags.find((t) => t.entry.digest === digest)
  if (tagged) return tagged
  for (const t of tags.filter((x) => isIndexType(x.entry.mediaType))) {
    const node = parseNode(t.entry, await site.reader(t.engines)(t.entry, MAX_JSON_BYTES), `${path}#${t.tag}`)
    const child = node.children.find((c: Descriptor) => c.digest === digest)
    if (child) return { tag: digest, entry: child, engines: t.engines }
  }
  return undefined
}

/**
 * Inspect one tag or digest of an image on a site (a directory or a URL): the manifest in brief,
 * each platform's config and layers with their sizes, and the referrers.
 */
export async function inspect(target: string, reference: string, options: InspectOptions = {}): Promise<InspectResult> {
  const ref = parseReference(reference, `inspect ${reference}`)
  const site = await SiteReader.open(target, options)
  const tags = await site.tags(ref.path)
  const found = ref.tag !== undefined ? tags.find((t) => t.tag === ref.tag) : await findDigest(site, tags, ref.path, ref.digest!)
  if (!found) {
    throw new OcisiteError('NOT_FOUND', `${target}: ${ref.path} has no ${ref.tag !== undefined ? `tag ${ref.tag}` : `manifest ${ref.digest}`} (tags: ${tags.map((t) => t.tag).join(', ') || 'none'})`, { path: ref.path })
  }
  const facts = await describeTag(site.reader(found.engines), site.referrersOf(ref.path), found.tag, found.entry, new Set(tags.map((t) => t.tag)))
  const manifests = options.platform === undefined ? facts.manifests : facts.manifests.filter((m) => m.platform === options.platform)
  if (manifests.length === 0) {
    throw new OcisiteError('NOT_FOUND', `${target}: ${reference} has no platform ${options.platform} (platforms: ${facts.manifests.map((m) => m.platform ?? '?').join(', ') || 'none'})`, { platform: options.platform })
  }
  return {
    path: ref.path,
    reference: ref.tag ?? ref.digest!,
    digest: facts.digest,
    mediaType: facts.mediaType,
    size: facts.size,
    ...(facts.artifactType ? { artifactType: facts.artifactType } : {}),
    ...(facts.created ? { created: facts.created } : {}),
    tags: tags.filter((t) => t.entry.digest === facts.digest).map((t) => t.tag).sort(),
    annotations: facts.annotations,
    manifests,
    referrers: facts.referrers,
    signed: facts.signed,
  }
}

/**
 * Where `inspect NAME` reads: with `site` (a directory or URL), NAME is `PATH#TAG` (a leading
 * `HOST/` naming the URL's host is dropped); without, NAME is `HOST/PATH#TAG`, read from
 * `https://HOST` (or `protocol` and `port`).
 */
export function inspectTarget(name: string, site: string | undefined, protocol: 'https' | 'http' = 'https', port?: number): { target: string; reference: string } {
  if (site !== undefined) {
    const host = /^https?:\/\//i.test(site) ? new URL(site).hostname.toLowerCase() : undefined
    return { target: site, reference: host && name.toLowerCase().startsWith(`${host}/`) ? name.slice(host.length + 1) : name }
  }
  const slash = name.indexOf('/')
  if (slash <= 0) throw new OcisiteError('NAME_INVALID', `inspect ${name}: name HOST/PATH#TAG or HOST/PATH@DIGEST, or read a site directory or URL with --site and PATH#TAG`, { name })
  const host = name.slice(0, slash)
  parseHost(host, `inspect ${name}`)
  return { target: `${protocol}://${host}${port !== undefined ? `:${port}` : ''}`, reference: name.slice(slash + 1) }
}

import { OcisiteError, type ErrorCode } from '../errors.js'
import { parseDescriptor, plainDescriptor, platformFromConfig, REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseJsonObject } from '../oci/json.js'
import { dockerStyleTag, parseImageName, type ImageName } from '../oci/image-name.js'
import { isImageConfigType, isIndexType, MediaType } from '../oci/media-types.js'
import { successors } from '../content/graph.js'
import { fetchAll } from '../content/read.js'
import { RemoteStore } from '../content/remote-store.js'
import { discoverySources, type DiscoveryOptions, type RefEnginesSource } from './discovery.js'
import { casEngines, engineList, expandUri, uniqueEngines, type CasEngine } from '../oci/engines.js'
import { fetchJson } from '../http/client.js'
import { formatPlatform, parsePlatform, platformMatches, type PlatformSpec } from '../oci/platform.js'

/** One Merkle root a name resolved to: its descriptor, the index it came from, and where to fetch blobs. */
export interface ResolvedRoot {
  descriptor: Descriptor
  uri: string
  casEngines: CasEngine[]
}

export interface ResolveOptions extends DiscoveryOptions {
  /** `os/arch[/variant]`: follow multi-platform indexes to the matching manifest. */
  platform?: string
  /** Checks each name's roots before `platform` narrows them (the signature policy: trust.ts's rootChecker). */
  checkRoots?: (name: ImageName, roots: readonly ResolvedRoot[]) => Promise<void>
}

/** What resolution found for one name, and the discovery source that answered. */
export interface Resolution {
  name: ImageName
  roots: ResolvedRoot[]
  source: RefEnginesSource
}

/** Errors about remote content are protocol failures (exit 4), whatever layer found them. */
export function asProtocolError(err: unknown, where: string): OcisiteError {
  if (err instanceof OcisiteError && (err.code === 'NOT_FOUND' || err.code === 'NETWORK' || err.code === 'PROTOCOL' || err.code === 'AUTH_FAILED')) return err
  if (err instanceof OcisiteError) return new OcisiteError('PROTOCOL', `${where}: ${err.message}`, err.context)
  throw err
}

/** `localhost/app:1.2` is a docker-style reference: host-based names put the tag after `#`. */
function dockerStyleHint(name: ImageName): string {
  const docker = name.fragment === '' ? dockerStyleTag(name.path) : undefined
  return docker ? `; tags follow "#" in host-based names: did you mean ${name.host}/${docker.path}#${docker.tag}?` : ''
}

/** Resolve one parsed name through discovery and its `oci-index-template-v1` ref engines. */
export async function resolveName(name: ImageName, options: DiscoveryOptions = {}): Promise<Resolution> {
  const failures: string[] = []
  const codes = new Set<ErrorCode>()
  let notFound: string | undefined
  for await (const source of discoverySources(name, options, failures)) {
    const fallbackCas = casEngines(source.casEngines, source.uri)
    for (const ref of source.refEngines) {
      if (ref.protocol !== 'oci-index-template-v1' || typeof ref.uri !== 'string') continue // unsupported: ignored
      let indexUrl = ''
      try {
        indexUrl = expandUri(ref.uri, { name: name.name, host: name.host, path: name.path, fragment: name.fragment }, source.uri)
        const doc = await fetchJson(indexUrl, [MediaType.ociIndex], options)
        options.onEvent?.({ type: 'attempt', url: doc.url, ok: true })
        if (!Array.isArray(doc.body.manifests)) throw new OcisiteError('PROTOCOL', `GET ${doc.url}: index has no "manifests" array`)
        const entries = doc.body.manifests.map((m, i) => ({ raw: m as Record<string, unknown>, d: parseDescriptor(m, `${doc.url} manifests[${i}]`) }))
        const selected = name.fragment === '' ? entries : entries.filter((e) => e.d.annotations?.[REF_NAME] === name.fragment)
        if (selected.length === 0) {
          notFound = `${name.name}: ${doc.url} has no entry tagged "${name.fragment}" (tags: ${entries.map((e) => e.d.annotations?.[REF_NAME]).filter(Boolean).join(', ') || 'none'})`
          continue
        }
        const roots = selected.map(({ raw, d }) => {
          const { casEngines: _own, ...descriptor } = plainDescriptor(d)
          return { descriptor, uri: doc.url, casEngines: uniqueEngines(casEngines(engineList(raw.casEngines), doc.url), fallbackCas) }
        })
        return { name, roots, source }
      } catch (err) {
        const e = asProtocolError(err, indexUrl || ref.uri)
        options.onEvent?.({ type: 'attempt', url: indexUrl || ref.uri, ok: false, error: e.message })
        if (e.code === 'AUTH_FAILED') throw e
        if (e.code === 'NOT_FOUND') notFound = `${name.name}: ${e.message}`
        else {
          failures.push(e.message)
          codes.add(e.code)
        }
      }
    }
  }
  if (notFound) throw new OcisiteError('NOT_FOUND', `${notFound}${dockerStyleHint(name)}`, { name: name.name })
  const code: ErrorCode = codes.has('PROTOCOL') ? 'PROTOCOL' : 'NETWORK'
  throw new OcisiteError(code, `${name.name}: no ref engine could be discovered or reached${failures.length ? ` (${failures.join('; ')})` : ''}`, { name: name.name })
}

/**
 * A root pinned by digest (from a lock file): only the CAS engines are discovered, the index is
 * never read, so a tag moved on the site does not change what is fetched.
 */
export async function resolvePinned(name: ImageName, pinned: Descriptor, options: DiscoveryOptions = {}): Promise<Resolution> {
  const failures: string[] = []
  for await (const source of discoverySources(name, options, failures)) {
    const engines = casEngines(source.casEngines, source.uri)
    if (engines.length > 0) return { name, roots: [{ descriptor: pinned, uri: source.uri, casEngines: engines }], source }
    failures.push(`${source.uri} names no CAS engine`)
  }
  throw new OcisiteError('NETWORK', `${name.name}: no CAS engine could be discovered for ${pinned.digest}${failures.length ? ` (${failures.join('; ')})` : ''}`, { name: name.name })
}

/** A root's CAS engines as a store: its small documents are read from it into memory (nothing is stored). */
function casOf(root: ResolvedRoot, options: DiscoveryOptions): RemoteStore {
  return new RemoteStore(root.casEngines, options)
}

/** The entries of a root that is an index, fetched and verified through its CAS engines. */
export async function indexChildren(root: ResolvedRoot, options: DiscoveryOptions = {}): Promise<Descriptor[]> {
  try {
    return (await successors(casOf(root, options), root.descriptor)).children
  } catch (err) {
    throw asProtocolError(err, `index ${root.descriptor.digest}`)
  }
}

/**
 * The platform of a single-platform root: from its descriptor, or else from its image config
 * (fetched and verified). Undefined for artifacts without an image config.
 */
export async function manifestPlatform(root: ResolvedRoot, options: DiscoveryOptions = {}): Promise<Descriptor['platform']> {
  if (root.descriptor.platform) return root.descriptor.platform
  try {
    const cas = casOf(root, options)
    const node = await successors(cas, root.descriptor)
    const config = node.kind === 'manifest' ? node.children[0] : undefined
    if (!config || !isImageConfigType(config.mediaType)) return undefined
    return platformFromConfig(parseJsonObject(await fetchAll(cas, config), `${root.uri}: config ${config.digest}`))
  } catch (err) {
    throw asProtocolError(err, `manifest ${root.descriptor.digest}`)
  }
}

/** The root narrowed to the child of its index that runs on `want`, or a NOT_FOUND naming the platforms there are. */
export function matchPlatform(root: ResolvedRoot, children: Descriptor[], want: PlatformSpec, hint = ''): ResolvedRoot {
  const match = children.find((c) => platformMatches(want, c.platform))
  if (!match) {
    throw new OcisiteError('NOT_FOUND', `no manifest for platform ${formatPlatform(want)} in ${root.descriptor.digest} (platforms: ${children.map((c) => formatPlatform(c.platform)).filter(Boolean).join(', ') || 'none'})${hint}`)
  }
  return { ...root, descriptor: plainDescriptor(match) }
}

/** Follow a multi-platform index root to its manifest for `want`. Other roots are returned as they are. */
export async function selectPlatform(root: ResolvedRoot, want: PlatformSpec, options: DiscoveryOptions = {}): Promise<ResolvedRoot> {
  if (!isIndexType(root.descriptor.mediaType)) return root
  return matchPlatform(root, await indexChildren(root, options), want)
}

/** A root and the tag its index entry carries (kept when `platform` narrows the root to a child). */
export interface TaggedRoot {
  tag: string | undefined
  root: ResolvedRoot
}

/** What one name resolved to, or the user error that stopped it. */
export type NameResolution = { name: string; roots: TaggedRoot[] } | { name: string; error: OcisiteError }

async function resolveTagged(text: string, want: PlatformSpec | undefined, options: ResolveOptions): Promise<TaggedRoot[]> {
  const name = parseImageName(text)
  const { roots } = await resolveName(name, options)
  await options.checkRoots?.(name, roots)
  return Promise.all(roots.map(async (r) => ({ tag: r.descriptor.annotations?.[REF_NAME], root: want ? await selectPlatform(r, want, options) : r })))
}

/**
 * Resolve each name on its own: one name's failure (a user error) is reported beside the others'
 * roots instead of stopping them. Anything else (a bug) rejects.
 */
export async function resolveNames(names: string[], options: ResolveOptions = {}): Promise<NameResolution[]> {
  const want = options.platform ? parsePlatform(options.platform) : undefined
  const out: NameResolution[] = []
  for (const name of names) {
    try {
      out.push({ name, roots: await resolveTagged(name, want, options) })
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      out.push({ name, error: err })
    }
  }
  return out
}

/**
 * Resolve host-based image names (`example.com/app#1.0`) to their Merkle roots.
 * Rejects with an OcisiteError whose code says why: NAME_INVALID, NOT_FOUND, NETWORK or PROTOCOL.
 */
export async function resolve(names: string | string[], options: ResolveOptions = {}): Promise<Record<string, ResolvedRoot[]>> {
  const want = options.platform ? parsePlatform(options.platform) : undefined
  const out: Record<string, ResolvedRoot[]> = {}
  for (const text of Array.isArray(names) ? names : [names]) out[text] = (await resolveTagged(text, want, options)).map((t) => t.root)
  return out
}

/** The one manifest a NAME#TAG names, as a subject for a referrer (`pack --subject`). */
export async function resolveSubject(nameText: string, options: DiscoveryOptions = {}): Promise<Descriptor> {
  const { roots } = await resolveName(parseImageName(nameText), options)
  if (roots.length !== 1) throw new OcisiteError('NAME_INVALID', `--subject ${nameText}: names ${roots.length} entries; name one tag`, { name: nameText })
  const { mediaType, digest, size } = roots[0]!.descriptor
  return { mediaType, digest, size }
}

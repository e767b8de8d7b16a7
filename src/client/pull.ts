import { promises as fs } from 'node:fs'
import path from 'node:path'
import { mapLimit } from '../concurrency.js'
import { pullDefaults } from '../defaults.js'
import { OcisiteError } from '../errors.js'
import { parseDescriptor, plainDescriptor, REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { MAX_JSON_BYTES } from '../oci/json.js'
import { parseImageName } from '../oci/image-name.js'
import { checkLayoutDir, OciLayout } from '../content/layout/oci-layout.js'
import { isIndexType, MediaType } from '../oci/media-types.js'
import { walkDag, type BlobSource, type DagNode } from '../oci/walk.js'
import { copyBlob } from '../content/copy-blobs.js'
import { FileStore } from '../content/file-store.js'
import { RemoteStore } from '../content/remote-store.js'
import { VerifyCache } from '../content/verify-cache.js'
import type { DiscoveryOptions, RefEnginesSource } from './discovery.js'
import type { CasEngine } from '../oci/engines.js'
import { fetchJson } from '../http/client.js'
import { pinFor } from './lock.js'
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../oci/platform.js'
import { asProtocolError, indexChildren, manifestPlatform, matchPlatform, resolveName, resolvePinned, type ResolvedRoot } from './resolve.js'
import { pushAll } from '../arrays.js'


export interface PullOptions extends DiscoveryOptions {
  /** `os/arch[/variant]` to pick from a multi-platform index (default: this machine's). */
  platform?: string
  /** Pull every platform of a multi-platform index. */
  allPlatforms?: boolean
  /** Blobs fetched at once (default 4). */
  concurrency?: number
  /** Also fetch the referrers the site lists (default true). */
  referrers?: boolean
  /** Fetch this descriptor (from a lock file) by digest instead of resolving the tag. */
  pinned?: Descriptor
  /** A lock file: fetch the digest it pins for the name, never by tag (unless `pinned` is given). */
  lock?: string
  /** A file in which to remember DEST's verified blobs by stat (for a DEST only ocisite writes). */
  verifyCache?: string
  /** Write the layout into a non-empty directory that is not one yet (default: refused). */
  force?: boolean
}

export interface PullResult {
  name: string
  dest: string
  roots: Array<{ tag: string | undefined; digest: string; size: number; mediaType: string; platform?: string }>
  referrers: string[]
  blobs: { total: number; fetched: number; cached: number; bytesFetched: number }
}

/**
 * Copies blobs from a remote CAS into a layout (both content stores), reusing what is already
 * there and verified; the walk reads documents through it.
 */
class LayoutFetcher implements BlobSource {
  readonly label: string
  private verified = new Set<string>()
  readonly stats = { fetched: 0, cached: 0, bytesFetched: 0 }
  private readonly remote: RemoteStore
  private readonly local: FileStore
  constructor(
    private readonly writer: OciLayout,
    engines: CasEngine[],
    options: PullOptions,
    cache: VerifyCache,
  ) {
    this.label = writer.paths.root
    this.remote = new RemoteStore(engines, options)
    this.local = new FileStore({ label: writer.paths.root, blobPath: (d) => writer.paths.blob(d), cache, stats: { hashed: 0 } })
  }

  async ensure(desc: Descriptor, onBytes?: (n: number) => void): Promise<'fetched' | 'cached'> {
    if (this.verified.has(desc.digest)) return 'cached'
    const action = await copyBlob(this.remote, this.local, desc, onBytes)
    this.verified.add(desc.digest)
    if (action === 'present') {
      this.stats.cached++
      return 'cached'
    }
    this.stats.fetched++
    this.stats.bytesFetched += desc.size
    return 'fetched'
  }

  async readJson(desc: Descriptor): Promise<Buffer> {
    // Refuse before fetching: a server's index could describe a "manifest" of any size.
    if (desc.size > MAX_JSON_BYTES) throw new OcisiteError('PROTOCOL', `document ${desc.digest} is ${desc.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`, { digest: desc.digest })
    await this.ensure(desc)
    return fs.readFile(this.writer.paths.blob(parseDigest(desc.digest)))
  }
}

/** Pick what to pull from a root: the whole index, or one platform's manifest. */
async function chooseTarget(root: ResolvedRoot, options: PullOptions): Promise<ResolvedRoot> {
  if (!isIndexType(root.descriptor.mediaType)) {
    // A single-platform image must still be the platform asked for.
    if (!options.platform) return root
    const want = parsePlatform(options.platform)
    const have = await manifestPlatform(root, options)
    if (have && !platformMatches(want, have)) {
      throw new OcisiteError('NOT_FOUND', `no manifest for platform ${formatPlatform(want)} in ${root.descriptor.digest} (platforms: ${formatPlatform(have)})`)
    }
    return root
  }
  if (options.allPlatforms) return root
  const children = await indexChildren(root, options)
  if (options.platform) return matchPlatform(root, children, parsePlatform(options.platform))
  // No choice given: this machine's platform, as docker does; artifact indexes without platforms come whole.
  if (children.every((c) => !c.platform)) return root
  return matchPlatform(root, children, hostPlatform(), '; pass --platform or --all-platforms')
}

/** Referrers the site lists for `digest` through its static /v2/ API, when it has one. */
async function siteReferrers(source: RefEnginesSource, imagePath: string, digest: string, options: PullOptions): Promise<Descriptor[]> {
  if (source.origin !== 'well-known') return []
  const url = new URL(`/v2/${imagePath}/referrers/${digest}`, source.uri).toString()
  try {
    const doc = await fetchJson(url, [MediaType.ociIndex], options)
    const list = Array.isArray(doc.body.manifests) ? doc.body.manifests : []
    return list.map((m, i) => parseDescriptor(m, `${doc.url} manifests[${i}]`))
  } catch (err) {
    // Referrers are optional: a site without /v2/ simply has none to offer.
    if (!(err instanceof OcisiteError)) throw err
    options.onEvent?.({ type: 'attempt', url, ok: false, error: err.message })
    return []
  }
}

/**
 * Resolve `name` and fetch each root's whole DAG (and any referrers the site lists) into the OCI
 * layout `dest`, verifying every blob. `index.json` is updated only after every blob is in place.
 */
export async function pull(nameText: string, dest: string, options: PullOptions = {}): Promise<PullResult> {
  const name = parseImageName(nameText)
  const pinned = options.pinned ?? (options.lock === undefined ? undefined : await pinFor(options.lock, nameText))
  // DEST is checked before anything is fetched: a refusal writes nothing and reaches no server.
  await checkLayoutDir(dest, 'DEST', options.force)
  const { roots, source } = pinned ? await resolvePinned(name, pinned, options) : await resolveName(name, options)
  // Every target is chosen (and a missing platform refused) before DEST is touched.
  const targets = await Promise.all(roots.map((root) => chooseTarget(root, options)))
  const writer = await OciLayout.create(dest)
  // DEST is hashed whole on every pull (it is the user's directory; no state file is kept there),
  // unless the caller keeps a verify cache for it (get's own cache layout).
  const cache = await VerifyCache.load(options.verifyCache)
  const result: PullResult = { name: nameText, dest: writer.paths.root, roots: [], referrers: [], blobs: { total: 0, fetched: 0, cached: 0, bytesFetched: 0 } }
  const entries: Array<{ desc: Descriptor; tag: string | undefined }> = []

  for (const [i, root] of roots.entries()) {
    const fetcher = new LayoutFetcher(writer, root.casEngines, options, cache)
    const target = targets[i]!
    const nodes = new Map<string, DagNode>()
    // What the walk finds wrong is the server's content, not the user's input.
    const walk = (desc: Descriptor) => walkDag(fetcher, [desc], nodes).catch((err: unknown) => Promise.reject(asProtocolError(err, `${name.name}`)))
    await walk(target.descriptor)

    // Referrers (signatures, SBOMs) of every manifest pulled, as the site lists them.
    const referrers: Descriptor[] = []
    for (const node of [...nodes.values()].filter((n) => n.kind !== 'blob')) {
      for (const r of options.referrers === false ? [] : await siteReferrers(source, name.path, node.descriptor.digest, options)) {
        if (nodes.has(r.digest)) continue
        await walk(r)
        referrers.push(plainDescriptor(r))
      }
    }

    // The counter covers every node, as the summary does: the documents were fetched by the walk.
    const all = [...nodes.values()]
    const blobs = all.filter((n) => n.kind === 'blob').map((n) => n.descriptor)
    const documents = all.filter((n) => n.kind !== 'blob')
    const bytesTotal = all.reduce((n, b) => n + b.descriptor.size, 0)
    let done = documents.length
    let bytesDone = documents.reduce((n, d) => n + d.descriptor.size, 0)
    options.onEvent?.({ type: 'plan', blobs: all.length, bytes: bytesTotal, done, bytesDone })
    await mapLimit(blobs, options.concurrency ?? pullDefaults.concurrency, async (b) => {
      const action = await fetcher.ensure(b, (n) => options.onEvent?.({ type: 'blob-bytes', bytes: n }))
      bytesDone += b.size
      options.onEvent?.({ type: 'blob', digest: b.digest, size: b.size, action, done: ++done, total: all.length, bytesDone, bytesTotal })
    })

    const tag = name.fragment || root.descriptor.annotations?.[REF_NAME]
    const { annotations: _a, ...desc } = target.descriptor
    const annotations = target === root ? { ...(root.descriptor.annotations ?? {}) } : {}
    delete annotations[REF_NAME]
    entries.push({ desc: Object.keys(annotations).length ? { ...desc, annotations } : desc, tag })
    for (const r of referrers) entries.push({ desc: r, tag: undefined })
    pushAll(result.referrers, referrers.map((r) => r.digest))
    result.roots.push({ tag, digest: target.descriptor.digest, size: target.descriptor.size, mediaType: target.descriptor.mediaType, ...(target.descriptor.platform ? { platform: formatPlatform(target.descriptor.platform) } : {}) })
    result.blobs.total += nodes.size
    result.blobs.fetched += fetcher.stats.fetched
    result.blobs.cached += fetcher.stats.cached
    result.blobs.bytesFetched += fetcher.stats.bytesFetched
  }

  // Every blob is in place and verified: only now does index.json name the new roots.
  for (const e of entries) await writer.addToIndex(e.desc, e.tag)
  await cache.save((file) => file.startsWith(`${writer.paths.root}${path.sep}`))
  return result
}

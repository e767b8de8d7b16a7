import path from 'node:path'
import { pullDefaults } from '../defaults.js'
import { OcisiteError } from '../errors.js'
import { parseDescriptor, plainDescriptor, REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseImageName, type ImageName } from '../oci/image-name.js'
import { checkLayoutDir, OciLayout } from '../content/layout/oci-layout.js'
import { distributionPaths } from '../oci/distribution.js'
import { isIndexType, MediaType } from '../oci/media-types.js'
import { copyGraph } from '../content/copy.js'
import { preferLocal, withWalked } from '../content/fetchers.js'
import { walk, type NodeCache } from '../content/graph.js'
import { CopyProgress, type CopyCounts } from '../content/progress.js'
import { RemoteStore } from '../content/remote-store.js'
import type { ReferrerFinder } from '../content/storage.js'
import { VerifyCache } from '../content/verify-cache.js'
import type { DiscoveryOptions, RefEnginesSource } from './discovery.js'
import { fetchJson } from '../http/client.js'
import { pinFor } from './lock.js'
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../oci/platform.js'
import { asProtocolError, indexChildren, manifestPlatform, matchPlatform, resolveName, resolvePinned, type ResolvedRoot } from './resolve.js'
import { pushAll } from '../arrays.js'
import { rootChecker, type TrustOptions } from './trust.js'


export interface PullOptions extends DiscoveryOptions, TrustOptions {
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

/**
 * The referrers the site lists for each manifest through its static /v2/ API, when it has one
 * (and the caller wants them): a ReferrerFinder over the live site.
 */
function siteReferrers(source: RefEnginesSource, imagePath: string, options: PullOptions): ReferrerFinder | undefined {
  if (options.referrers === false || source.origin !== 'well-known') return undefined
  return {
    async referrers(subject) {
      const url = new URL(distributionPaths.referrers(imagePath, subject.digest), source.uri).toString()
      try {
        const doc = await fetchJson(url, [MediaType.ociIndex], options)
        const list = Array.isArray(doc.body.manifests) ? doc.body.manifests : []
        return list.map((m, i) => plainDescriptor(parseDescriptor(m, `${doc.url} manifests[${i}]`)))
      } catch (err) {
        // Referrers are optional: a site without /v2/ simply has none to offer.
        if (!(err instanceof OcisiteError) || err.code === 'AUTH_FAILED') throw err
        options.onEvent?.({ type: 'attempt', url, ok: false, error: err.message })
        return []
      }
    },
  }
}

/** What pulling one root into DEST did. */
interface RootPull {
  entries: Array<{ desc: Descriptor; tag: string | undefined }>
  referrers: string[]
  nodes: number
  counts: CopyCounts
}

/**
 * Pull one root: walk its graph (documents read from DEST when it holds them, else from the CAS
 * engines; referrers as the site lists them), then copy it into DEST, children first. DEST may
 * hold a damaged blob or a manifest without its blobs, so every node is looked at.
 */
async function pullRoot(name: ImageName, root: ResolvedRoot, target: ResolvedRoot, source: RefEnginesSource, dest: OciLayout, options: PullOptions): Promise<RootPull> {
  const remote = new RemoteStore(root.casEngines, options)
  const cache: NodeCache = new Map()
  const finder = siteReferrers(source, name.path, options)
  // What the walk finds wrong is the server's content, not the user's input.
  const found = await walk(preferLocal(dest, remote), [target.descriptor], { cache, ...(finder ? { referrers: finder } : {}) }).catch((err: unknown) => Promise.reject(asProtocolError(err, name.name)))
  const referrers = new Map<string, Descriptor>()
  for (const list of found.referrers.values()) for (const r of list) if (r.digest !== target.descriptor.digest && !referrers.has(r.digest)) referrers.set(r.digest, r)
  const bytes = found.nodes.reduce((n, node) => n + node.descriptor.size, 0)
  const progress = new CopyProgress(found.nodes.length, bytes, options.onEvent)
  await copyGraph(withWalked(cache, remote), dest, [target.descriptor, ...referrers.values()], { cache, skipSubgraphs: false, concurrency: options.concurrency ?? pullDefaults.concurrency, ...progress.hooks })

  const tag = name.fragment || root.descriptor.annotations?.[REF_NAME]
  const { annotations: _a, ...desc } = target.descriptor
  const annotations = target === root ? { ...(root.descriptor.annotations ?? {}) } : {}
  delete annotations[REF_NAME]
  const entries = [{ desc: Object.keys(annotations).length ? { ...desc, annotations } : desc, tag }, ...[...referrers.values()].map((r) => ({ desc: r, tag: undefined }))]
  return { entries, referrers: [...referrers.keys()], nodes: found.nodes.length, counts: progress.counts }
}

/**
 * Resolve `name` and fetch each root's whole graph (and any referrers the site lists) into the
 * OCI layout `dest`, verifying every blob. `index.json` is updated only after every blob is in place.
 */
export async function pull(nameText: string, destDir: string, options: PullOptions = {}): Promise<PullResult> {
  const name = parseImageName(nameText)
  const pinned = options.pinned ?? (options.lock === undefined ? undefined : await pinFor(options.lock, nameText))
  const checkSignatures = await rootChecker(options)
  // DEST is checked before anything is fetched: a refusal writes nothing and reaches no server.
  await checkLayoutDir(destDir, 'DEST', options.force)
  const { roots, source } = pinned ? await resolvePinned(name, pinned, options) : await resolveName(name, options)
  // Every target is chosen (and a missing platform refused) before DEST is touched.
  const targets = await Promise.all(roots.map((root) => chooseTarget(root, options)))
  // The signature policy (if any) accepts each root's digest before DEST is touched.
  await checkSignatures?.(name, roots)
  // DEST is hashed whole on every pull (it is the user's directory; no state file is kept there),
  // unless the caller keeps a verify cache for it (get's own cache layout).
  const cache = await VerifyCache.load(options.verifyCache)
  const dest = await OciLayout.create(destDir, { cache })
  const result: PullResult = { name: nameText, dest: dest.paths.root, roots: [], referrers: [], blobs: { total: 0, fetched: 0, cached: 0, bytesFetched: 0 } }
  const entries: RootPull['entries'] = []
  for (const [i, root] of roots.entries()) {
    const target = targets[i]!
    const pulled = await pullRoot(name, root, target, source, dest, options)
    pushAll(entries, pulled.entries)
    pushAll(result.referrers, pulled.referrers)
    const t = target.descriptor
    result.roots.push({ tag: pulled.entries[0]!.tag, digest: t.digest, size: t.size, mediaType: t.mediaType, ...(t.platform ? { platform: formatPlatform(t.platform) } : {}) })
    result.blobs.total += pulled.nodes
    result.blobs.fetched += pulled.counts.copied
    result.blobs.cached += pulled.counts.skipped
    result.blobs.bytesFetched += pulled.counts.bytesCopied
  }
  // Every blob is in place and verified: only now does index.json name the new roots.
  for (const e of entries) await dest.addToIndex(e.desc, e.tag)
  await cache.save((file) => file.startsWith(`${dest.paths.root}${path.sep}`))
  return result
}

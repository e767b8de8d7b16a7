import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import { REF_NAME, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { MediaType, manifestKindOf, manifestKinds } from '../../oci/media-types.js'
import type { GraphNode } from '../../oci/node.js'
import { urlOf, type ServedEntry } from '../map.js'
import { casEngines, engineList, expandUri, type CasEngine } from '../../oci/engines.js'
import { parseContentType, type HttpOptions } from '../../http/client.js'
import { walk, type NodeCache } from '../../content/graph.js'
import { casUrl } from '../../content/remote-store.js'
import type { Fetcher } from '../../content/storage.js'
import { listIndexFiles, openTransport, type Answer } from './transport.js'

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

/** Longest a document may be cached before a publish shows: documents change on every publish. */
const MAX_DOCUMENT_AGE = 600

const manifestAccept = Object.values(manifestKinds).join(', ')

/**
 * Check a live site (or a site directory) the way a consumer walks it: the well-known document,
 * every image's index, every manifest, every blob, and the /v2/ API, with their status, exact
 * Content-Type, Cache-Control, size and digest. Problems are returned, not thrown.
 */
export async function verifySite(target: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { transport, published, site } = await openTransport(target, options)
  const result: VerifyResult = { target, ok: false, deep: !!options.deep, v2: false, checked: { requests: 0, images: 0, tags: 0, manifests: 0, blobs: 0 }, problems: [] }
  const problem = (kind: ProblemKind, url: string, message: string) => result.problems.push({ kind, url: transport.display(url), message })
  const limit = options.concurrency ?? 16

  /** Request `url` and check status and headers; undefined (with the problem noted) when it fails. */
  const fetchChecked = async (
    url: string,
    expect: { method?: 'GET' | 'HEAD'; status?: number; statusKind?: ProblemKind; absentOk?: boolean; type?: string; charset?: boolean; cache?: 'document' | 'immutable'; digest?: string; size?: number; accept?: string; what: string },
  ): Promise<Answer | undefined> => {
    result.checked.requests++
    let answer: Answer
    try {
      answer = await transport.request(url, expect.method ?? 'GET', expect.accept)
    } catch (err) {
      // Credentials missing or refused: verify cannot see the site, which is not the site's problem.
      if (!(err instanceof OcisiteError) || err.code === 'AUTH_FAILED') throw err
      problem('unreachable', url, `${expect.what}: ${err.message}`)
      return undefined
    }
    const status = expect.status ?? 200
    if (answer.status === 404 && expect.absentOk) {
      answer.discard()
      return undefined
    }
    if (answer.status !== status) {
      answer.discard()
      problem(expect.statusKind ?? 'status', url, `${expect.what}: HTTP ${answer.status}, expected ${status}`)
      return undefined
    }
    const ct = answer.headers['content-type']
    if (expect.type !== undefined) {
      const { mediaType, charset } = parseContentType(ct)
      if (mediaType !== expect.type) problem('content-type', url, `${expect.what}: served as "${ct ?? '(none)'}", expected "${expect.type}${expect.charset ? '; charset=utf-8' : ''}"`)
      else if (expect.charset && charset !== 'utf-8') problem('charset', url, `${expect.what}: served as "${ct}" without "; charset=utf-8"`)
    }
    const cc = answer.headers['cache-control']
    if (expect.cache === 'document') {
      const maxAge = /(?:^|,)\s*(?:s-)?max-age=(\d+)/i.exec(cc ?? '')
      if (cc === undefined) problem('cache-control', url, `${expect.what}: no Cache-Control, so caches may keep it for as long as they guess; documents change on every publish`)
      else if (/immutable/i.test(cc)) problem('cache-control', url, `${expect.what}: Cache-Control "${cc}" marks a document that changes on every publish as immutable`)
      else if (maxAge && Number(maxAge[1]) > MAX_DOCUMENT_AGE) problem('cache-control', url, `${expect.what}: Cache-Control "${cc}" keeps a document that changes on every publish stale for over ${MAX_DOCUMENT_AGE} s`)
    }
    if (expect.digest !== undefined) {
      const got = answer.headers['docker-content-digest']
      // The distribution spec says SHOULD: a bucket cannot send it, and clients hash the body. A wrong one misleads them.
      if (got !== undefined && got !== expect.digest) problem('header', url, `${expect.what}: Docker-Content-Digest is ${got}, expected ${expect.digest}`)
    }
    if (expect.size !== undefined && answer.headers['content-length'] !== undefined && Number(answer.headers['content-length']) !== expect.size) {
      problem('size', url, `${expect.what}: Content-Length ${answer.headers['content-length']}, expected ${expect.size}`)
    }
    return answer
  }

  /** A JSON document: fetched, checked, parsed; undefined when it fails. */
  const document = async (url: string, expect: Parameters<typeof fetchChecked>[1]): Promise<{ bytes: Buffer; body: Record<string, unknown> } | undefined> => {
    const answer = await fetchChecked(url, expect)
    if (!answer) return undefined
    try {
      const bytes = await answer.bytes(MAX_JSON_BYTES)
      return { bytes, body: parseJsonObject(bytes, expect.what) }
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      problem('document', url, `${expect.what}: ${err.message}`)
      return undefined
    }
  }

  // 1. The well-known document: where the indexes and the CAS are.
  const wellKnown = await document(transport.wellKnown, { type: MediaType.refEngines, charset: true, cache: 'document', what: 'ref-engines document' })
  if (!wellKnown) {
    if (result.problems.every((p) => p.kind === 'unreachable')) throw new OcisiteError('NETWORK', `${target}: ${result.problems[0]?.message ?? 'unreachable'}`, { url: target })
    return finish(result)
  }
  const refEngine = engineList(wellKnown.body.refEngines).find((e) => e.protocol === 'oci-index-template-v1' && typeof e.uri === 'string')
  const siteCas = casEngines(engineList(wellKnown.body.casEngines), transport.wellKnown)
  if (!refEngine) {
    problem('document', transport.wellKnown, 'ref-engines document: no oci-index-template-v1 ref engine')
    return finish(result)
  }

  // 2. Does the site serve /v2/?
  const base = new URL(urlOf({ kind: 'v2-base' }), transport.wellKnown).toString()
  const at = (entry: ServedEntry) => new URL(urlOf(entry), base).toString()
  const v2Answer = await transport.request(base, 'GET').catch((err: unknown) => {
    if (err instanceof OcisiteError && err.code === 'AUTH_FAILED') throw err
    return undefined
  })
  result.checked.requests++
  v2Answer?.discard()
  // A bucket cannot send Docker-Distribution-API-Version; a JSON 200 at /v2/ is what clients need.
  result.v2 = v2Answer?.status === 200 && (v2Answer.headers['docker-distribution-api-version'] === 'registry/2.0' || parseContentType(v2Answer.headers['content-type']).mediaType === MediaType.json)
  if (published?.settings.v2 && !result.v2) problem('status', base, `/v2/: HTTP ${v2Answer?.status ?? '(no answer)'} with no Docker-Distribution-API-Version, but the site was built with /v2/`)

  // 3. Which images.
  let names = options.names ?? (site ? await listIndexFiles(site) : undefined)
  if (!names) {
    const catalog = result.v2 ? await document(at({ kind: 'catalog' }), { type: MediaType.json, cache: 'document', what: '/v2/_catalog' }) : undefined
    const repos = catalog?.body.repositories
    if (Array.isArray(repos) && repos.every((r) => typeof r === 'string')) names = repos as string[]
    else {
      problem('catalog', base, 'cannot list the images: /v2/_catalog is not served; pass --name PATH for each image to check')
      names = []
    }
  }
  result.checked.images = names.length

  // 4. Each image: its index, then every manifest and blob through the CAS, then /v2/.
  const checkedBlobs = new Map<string, Promise<void>>()
  const checkBlob = (desc: Descriptor, engines: CasEngine[]) => {
    let p = checkedBlobs.get(desc.digest)
    if (!p) {
      p = (async () => {
        result.checked.blobs++
        const url = casUrl(engines[0]!, desc.digest)
        const answer = await fetchChecked(url, { method: options.deep ? 'GET' : 'HEAD', type: MediaType.octetStream, size: desc.size, what: `blob ${desc.digest}` })
        if (answer && options.deep) await checkBody(answer, desc, url)
        else answer?.discard()
      })()
      checkedBlobs.set(desc.digest, p)
    }
    return p
  }
  const checkBody = async (answer: Answer, desc: Descriptor, url: string) => {
    const digest = parseDigest(desc.digest)
    const { size, hex } = await answer.hash(digest.algorithm).catch((err: unknown) => {
      if (!(err instanceof OcisiteError)) throw err
      problem('unreachable', url, `${desc.digest}: ${err.message}`)
      return { size: -1, hex: '' }
    })
    if (size < 0) return
    if (size !== desc.size) problem('size', url, `${desc.digest}: ${size} bytes, its descriptor says ${desc.size}`)
    else if (`${digest.algorithm}:${hex}` !== digest.value) problem('digest', url, `${desc.digest}: the bytes served hash to ${digest.algorithm}:${hex}`)
  }
  const cache: NodeCache = new Map()
  const documents = new Map<string, Promise<Buffer | undefined>>()
  // Documents that cannot be read or parsed: noted once, and walked as leaves (they name nothing more).
  const unreadable = new Set<string>()
  /** A manifest or index through the CAS, requested once: its headers, size and digest checked. */
  const readDocument = (desc: Descriptor, url: string): Promise<Buffer | undefined> => {
    let p = documents.get(desc.digest)
    if (!p) {
      p = (async () => {
        result.checked.manifests++
        const doc = await fetchChecked(url, { type: MediaType.octetStream, size: desc.size, what: `manifest ${desc.digest}` })
        const bytes = await doc?.bytes(MAX_JSON_BYTES).catch(() => undefined)
        const got = bytes && digestOf(bytes, parseDigest(desc.digest).algorithm)
        if (!bytes || (bytes.byteLength === desc.size && got === desc.digest)) return bytes
        problem('digest', url, `manifest ${desc.digest}: the bytes served (${bytes.byteLength}) hash to ${got}`)
        return undefined
      })()
      documents.set(desc.digest, p)
    }
    return p
  }
  /** The graphs below `roots`, through the CAS `engines`, into `found`; then every blob they name. */
  const walkInto = async (roots: Descriptor[], engines: CasEngine[], found: Map<string, GraphNode>): Promise<void> => {
    const url = (desc: Descriptor) => casUrl(engines[0]!, desc.digest)
    const cas: Fetcher = {
      label: target,
      fetch: async (desc, use) => {
        const bytes = await readDocument(desc, url(desc))
        if (!bytes) {
          unreadable.add(desc.digest)
          throw new OcisiteError('PROTOCOL', `${transport.display(url(desc))}: manifest ${desc.digest} cannot be read`, { digest: desc.digest })
        }
        return use({ stream: [bytes], label: transport.display(url(desc)) })
      },
    }
    const asLeaf = (desc: Descriptor, err: unknown) => {
      if (unreadable.has(desc.digest)) return true
      if (!(err instanceof OcisiteError) || err.code === 'AUTH_FAILED') return false
      unreadable.add(desc.digest)
      problem('document', url(desc), err.message)
      return true
    }
    // Only what the walk itself refuses (one digest described with two sizes) comes out of it.
    const walked = await walk(cas, roots, { cache, asLeaf, concurrency: limit }).catch((err: unknown) => {
      if (!(err instanceof OcisiteError) || err.code === 'AUTH_FAILED') throw err
      problem('document', url(roots[0]!), err.message)
    })
    if (!walked) return
    const blobs: Descriptor[] = []
    for (const node of walked.nodes) {
      const digest = node.descriptor.digest
      if (unreadable.has(digest)) continue
      if (node.kind !== 'blob' || documents.has(digest)) found.set(digest, node)
      else blobs.push(node.descriptor)
    }
    await mapLimit(blobs, limit, (d) => checkBlob(d, engines))
  }

  for (const name of names) {
    const indexUrl = expandUri(refEngine.uri as string, { path: name }, transport.wellKnown)
    const index = await document(indexUrl, { type: MediaType.ociIndex, charset: true, cache: 'document', what: `index of ${name}` })
    if (!index) continue
    const entries = Array.isArray(index.body.manifests) ? index.body.manifests : []
    const tags = new Map<string, Descriptor>()
    const found = new Map<string, GraphNode>()
    for (const raw of entries) {
      const entry = raw as Descriptor & { casEngines?: unknown }
      const tag = entry.annotations?.[REF_NAME]
      if (typeof tag === 'string') tags.set(tag, entry)
      const engines = [...casEngines(engineList(entry.casEngines), indexUrl), ...siteCas]
      if (engines.length === 0) {
        problem('document', indexUrl, `${name}#${tag ?? '?'}: no CAS engine names where ${entry.digest} is`)
        continue
      }
      result.checked.tags++
      if (manifestKindOf(entry.mediaType)) await walkInto([entry], engines, found)
      else await checkBlob(entry, engines)
    }
    if (published) {
      const recorded = published.images.find((i) => i.path === name)
      for (const t of recorded?.tags ?? []) if (!tags.has(t.tag)) problem('tag-missing', indexUrl, `${name}#${t.tag}: the site's record publishes it, but its index does not list it (an interrupted add: run it again)`)
    }
    if (result.v2) await checkV2(name, tags, found, siteCas)
  }
  if (published) {
    for (const image of published.images) if (!names.includes(image.path)) problem('tag-missing', urlOf({ kind: 'index', repo: image.path }), `${image.path}: the site's record publishes it, but there is no index for it (an interrupted add: run it again)`)
  }
  if (result.v2) {
    const unknown = at({ kind: 'tags-list', repo: 'ocisite-verify/no-such-image' })
    await fetchChecked(unknown, { status: 404, statusKind: 'unknown-name', what: 'an image the site does not have' }).then((a) => a?.discard())
  }
  return finish(result)

  /** The /v2/ view of one image: tags list, each tag's manifest, each manifest by digest, each blob. */
  async function checkV2(name: string, tags: Map<string, Descriptor>, found: Map<string, GraphNode>, cas: CasEngine[]): Promise<void> {
    const manifestTags = [...tags].filter(([, d]) => manifestKindOf(d.mediaType))
    const listUrl = at({ kind: 'tags-list', repo: name })
    const list = await document(listUrl, { type: MediaType.json, cache: 'document', what: `/v2/ tags list of ${name}` })
    if (list) {
      const listed = Array.isArray(list.body.tags) ? (list.body.tags as unknown[]).filter((t): t is string => typeof t === 'string') : []
      const want = manifestTags.map(([t]) => t).sort()
      const missing = want.filter((t) => !listed.includes(t))
      const extra = listed.filter((t) => !tags.has(t))
      if (missing.length || extra.length) problem('tags-list', listUrl, `/v2/ tags of ${name}: ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not in its index: ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`)
    }
    await mapLimit(manifestTags, limit, async ([tag, entry]) => {
      const url = at({ kind: 'tag', repo: name, tag })
      const answer = await fetchChecked(url, { type: entry.mediaType, cache: 'document', accept: manifestAccept, what: `/v2/ ${name}:${tag}` })
      if (!answer) return
      const bytes = await answer.bytes(MAX_JSON_BYTES).catch(() => Buffer.alloc(0))
      const got = digestOf(bytes, parseDigest(entry.digest).algorithm)
      if (got !== entry.digest) problem('v2-tag', url, `/v2/ ${name}:${tag} answers with ${got}, but its index says ${entry.digest}`)
    })
    // Referrers of each tagged manifest (signatures, SBOMs): the index /v2/ serves, and what it lists.
    await mapLimit(manifestTags, limit, async ([, entry]) => {
      const url = at({ kind: 'referrers', repo: name, digest: parseDigest(entry.digest) })
      // A 404 means no referrers API (a bucket): clients then read the sha256-<hex> tag instead.
      const doc = await document(url, { type: MediaType.ociIndex, cache: 'document', absentOk: true, what: `/v2/ referrers of ${name}@${entry.digest}` })
      const listed = Array.isArray(doc?.body.manifests) ? (doc.body.manifests as Descriptor[]) : []
      await walkInto(listed.filter((r) => typeof r?.digest === 'string' && typeof r.size === 'number'), cas, found)
    })
    const manifests = [...found.values()].filter((n) => n.kind !== 'blob')
    await mapLimit(manifests, limit, async (node) => {
      const d = node.descriptor
      const answer = await fetchChecked(at({ kind: 'manifest', repo: name, digest: parseDigest(d.digest) }), { method: 'HEAD', type: node.mediaType, cache: 'immutable', digest: d.digest, size: d.size, accept: manifestAccept, what: `/v2/ ${name}@${d.digest}` })
      answer?.discard()
    })
    const blobs = new Map<string, Descriptor>()
    for (const n of manifests) if (n.kind === 'manifest') for (const c of n.children) blobs.set(c.digest, c)
    await mapLimit([...blobs.values()], limit, async (d) => {
      const url = at({ kind: 'blob-link', repo: name, digest: parseDigest(d.digest) })
      const answer = await fetchChecked(url, { method: options.deep ? 'GET' : 'HEAD', type: MediaType.octetStream, cache: 'immutable', digest: d.digest, size: d.size, what: `/v2/ blob ${d.digest} of ${name}` })
      if (answer && options.deep) await checkBody(answer, d, url)
      else answer?.discard()
    })
  }
}

function finish(result: VerifyResult): VerifyResult {
  result.ok = result.problems.length === 0
  return result
}

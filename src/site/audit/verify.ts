import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import { REF_NAME, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES } from '../../oci/json.js'
import { MediaType, manifestKindOf, manifestKinds } from '../../oci/media-types.js'
import type { GraphNode } from '../../oci/node.js'
import { urlOf, type ServedEntry } from '../map.js'
import { casEngines, engineList, expandUri, type CasEngine } from '../../oci/engines.js'
import { parseContentType } from '../../http/client.js'
import type { Published } from '../write/published.js'
import { openTransport } from './transport.js'
import { checkSignatures, loadSignatureAudit } from './signatures.js'
import { SiteChecks } from './verify-checks.js'
import { checkLookaside } from './lookaside-check.js'
import type { Engines, ImageView, VerifyOptions, VerifyResult } from './verify-result.js'

export type { Problem, ProblemKind, VerifyOptions, VerifyResult } from './verify-result.js'

const manifestAccept = Object.values(manifestKinds).join(', ')

/**
 * Check a live site (or a site directory) the way a consumer walks it: the well-known document,
 * every image's index, every manifest, every blob, and the /v2/ API, with their status, exact
 * Content-Type, Cache-Control, size and digest. Problems are returned, not thrown.
 */
export async function verifySite(target: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { transport, published, images } = await openTransport(target, options)
  const run = new SiteChecks(transport, options, target)
  const result = run.result
  // The policy is read before any request: a bad file fails first.
  const audit = options.policy === undefined ? undefined : await loadSignatureAudit(target, { ...options, policy: options.policy }, published)
  if (audit) result.policy = audit.file

  // 1. The well-known document: where the indexes and the CAS are.
  const engines = await readWellKnown(run, target)
  if (!engines) return finish(result)

  // 2. Does the site serve /v2/?
  result.v2 = await servesV2(run, engines.base, published)

  // 3. Which images.
  const names = await imageNames(run, engines.base, images)
  result.checked.images = names.length

  // 4. Each image: its index, then every manifest and blob through the CAS, then /v2/.
  for (const name of names) {
    const view = await checkImage(run, name, engines, published)
    if (view && result.v2) await checkV2(run, name, view, engines)
    if (view) await checkLookaside(run, name, view, engines)
    if (view && audit) await checkSignatures(run, audit, name, view, engines)
  }
  if (published) {
    for (const image of published.images) if (!names.includes(image.path)) run.problem('tag-missing', urlOf({ kind: 'index', repo: image.path }), `${image.path}: the site's record publishes it, but there is no index for it (an interrupted add: run it again)`)
  }
  if (result.v2) {
    const unknown = at(engines.base, { kind: 'tags-list', repo: 'ocisite-verify/no-such-image' })
    await run.fetchChecked(unknown, { status: 404, statusKind: 'unknown-name', what: 'an image the site does not have' }).then((a) => a?.discard())
  }
  return finish(result)
}

/** The URL of a served entry under the /v2/ base. */
function at(base: string, entry: ServedEntry): string {
  return new URL(urlOf(entry), base).toString()
}

/** The well-known document's ref engine and CAS engines; undefined (with the problem noted) when unusable. */
async function readWellKnown(run: SiteChecks, target: string): Promise<Engines | undefined> {
  const { transport, result } = run
  const wellKnown = await run.document(transport.wellKnown, { type: MediaType.refEngines, charset: true, cache: 'document', what: 'ref-engines document' })
  if (!wellKnown) {
    if (result.problems.every((p) => p.kind === 'unreachable')) throw new OcisiteError('NETWORK', `${target}: ${result.problems[0]?.message ?? 'unreachable'}`, { url: target })
    return undefined
  }
  const refEngine = engineList(wellKnown.body.refEngines).find((e) => e.protocol === 'oci-index-template-v1' && typeof e.uri === 'string')
  const siteCas = casEngines(engineList(wellKnown.body.casEngines), transport.wellKnown)
  if (!refEngine) {
    run.problem('document', transport.wellKnown, 'ref-engines document: no oci-index-template-v1 ref engine')
    return undefined
  }
  const base = new URL(urlOf({ kind: 'v2-base' }), transport.wellKnown).toString()
  return { refEngineUri: refEngine.uri as string, siteCas, base }
}

/** Whether the site serves /v2/; a site built with /v2/ that does not is a problem. */
async function servesV2(run: SiteChecks, base: string, published: Published | undefined): Promise<boolean> {
  const v2Answer = await run.transport.request(base, 'GET').catch((err: unknown) => {
    if (err instanceof OcisiteError && err.code === 'AUTH_FAILED') throw err
    return undefined
  })
  run.result.checked.requests++
  v2Answer?.discard()
  // A bucket cannot send Docker-Distribution-API-Version; a JSON 200 at /v2/ is what clients need.
  const v2 = v2Answer?.status === 200 && (v2Answer.headers['docker-distribution-api-version'] === 'registry/2.0' || parseContentType(v2Answer.headers['content-type']).mediaType === MediaType.json)
  if (published?.settings.v2 && !v2) run.problem('status', base, `/v2/: HTTP ${v2Answer?.status ?? '(no answer)'} with no Docker-Distribution-API-Version, but the site was built with /v2/`)
  return v2
}

/** The images to check: `--name`, else a directory's or a bucket's index files, else /v2/_catalog. */
async function imageNames(run: SiteChecks, base: string, images: (() => Promise<string[]>) | undefined): Promise<string[]> {
  let names = run.options.names
  if (!names && images) names = await images()
  if (!names) {
    const catalog = run.result.v2 ? await run.document(at(base, { kind: 'catalog' }), { type: MediaType.json, cache: 'document', what: '/v2/_catalog' }) : undefined
    const repos = catalog?.body.repositories
    if (Array.isArray(repos) && repos.every((r) => typeof r === 'string')) names = repos as string[]
    else {
      run.problem('catalog', base, 'cannot list the images: /v2/_catalog is not served; pass --name PATH for each image to check')
      names = []
    }
  }
  return names
}

/** One image: its index, then every manifest and blob through the CAS; undefined when its index is unusable. */
async function checkImage(run: SiteChecks, name: string, engines: Engines, published: Published | undefined): Promise<ImageView | undefined> {
  const indexUrl = expandUri(engines.refEngineUri, { path: name }, run.transport.wellKnown)
  const index = await run.document(indexUrl, { type: MediaType.ociIndex, charset: true, cache: 'document', what: `index of ${name}` })
  if (!index) return undefined
  const entries = Array.isArray(index.body.manifests) ? index.body.manifests : []
  const tags = new Map<string, Descriptor>()
  const found = new Map<string, GraphNode>()
  const casOf = new Map<string, CasEngine[]>()
  for (const raw of entries) {
    const entry = raw as Descriptor & { casEngines?: unknown }
    const tag = entry.annotations?.[REF_NAME]
    if (typeof tag === 'string') tags.set(tag, entry)
    const cas = [...casEngines(engineList(entry.casEngines), indexUrl), ...engines.siteCas]
    if (cas.length === 0) {
      run.problem('document', indexUrl, `${name}#${tag ?? '?'}: no CAS engine names where ${entry.digest} is`)
      continue
    }
    casOf.set(entry.digest, cas)
    run.result.checked.tags++
    if (manifestKindOf(entry.mediaType)) await run.walkInto([entry], cas, found)
    else await run.checkBlob(entry, cas)
  }
  if (published) {
    const recorded = published.images.find((i) => i.path === name)
    for (const t of recorded?.tags ?? []) if (!tags.has(t.tag)) run.problem('tag-missing', indexUrl, `${name}#${t.tag}: the site's record publishes it, but its index does not list it (an interrupted add: run it again)`)
  }
  return { indexUrl, tags, cas: casOf, found }
}

/** The /v2/ view of one image: tags list, each tag's manifest, referrers, each manifest by digest, each blob. */
async function checkV2(run: SiteChecks, name: string, view: ImageView, engines: Engines): Promise<void> {
  const manifestTags = [...view.tags].filter(([, d]) => manifestKindOf(d.mediaType))
  await checkTagsList(run, name, view.tags, manifestTags.map(([t]) => t), engines.base)
  await checkV2Tags(run, name, manifestTags, engines.base)
  // Referrers of each tagged manifest (signatures, SBOMs): the index /v2/ serves, and what it lists.
  await mapLimit(manifestTags, run.limit, async ([, entry]) => {
    const url = at(engines.base, { kind: 'referrers', repo: name, digest: parseDigest(entry.digest) })
    // A 404 means no referrers API (a bucket): clients then read the sha256-<hex> tag instead.
    const doc = await run.document(url, { type: MediaType.ociIndex, cache: 'document', absentOk: true, what: `/v2/ referrers of ${name}@${entry.digest}` })
    const listed = Array.isArray(doc?.body.manifests) ? (doc.body.manifests as Descriptor[]) : []
    await run.walkInto(listed.filter((r) => typeof r?.digest === 'string' && typeof r.size === 'number'), engines.siteCas, view.found)
  })
  const manifests = [...view.found.values()].filter((n) => n.kind !== 'blob')
  await checkV2Manifests(run, name, manifests, engines.base)
  await checkV2Blobs(run, name, manifests, engines.base)
}

/** /v2/<name>/tags/list names exactly the index's manifest tags. */
async function checkTagsList(run: SiteChecks, name: string, tags: Map<string, Descriptor>, manifestTags: string[], base: string): Promise<void> {
  const listUrl = at(base, { kind: 'tags-list', repo: name })
  const list = await run.document(listUrl, { type: MediaType.json, cache: 'document', what: `/v2/ tags list of ${name}` })
  if (!list) return
  const listed = Array.isArray(list.body.tags) ? (list.body.tags as unknown[]).filter((t): t is string => typeof t === 'string') : []
  const want = [...manifestTags].sort()
  const missing = want.filter((t) => !listed.includes(t))
  const extra = listed.filter((t) => !tags.has(t))
  if (missing.length || extra.length) run.problem('tags-list', listUrl, `/v2/ tags of ${name}: ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not in its index: ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`)
}

/** Each tag's /v2/ manifest answers with the digest its index entry names. */
async function checkV2Tags(run: SiteChecks, name: string, manifestTags: Array<[string, Descriptor]>, base: string): Promise<void> {
  await mapLimit(manifestTags, run.limit, async ([tag, entry]) => {
    const url = at(base, { kind: 'tag', repo: name, tag })
    const answer = await run.fetchChecked(url, { type: entry.mediaType, cache: 'document', accept: manifestAccept, what: `/v2/ ${name}:${tag}` })
    if (!answer) return
    const bytes = await answer.bytes(MAX_JSON_BYTES).catch(() => Buffer.alloc(0))
    const got = digestOf(bytes, parseDigest(entry.digest).algorithm)
    if (got !== entry.digest) run.problem('v2-tag', url, `/v2/ ${name}:${tag} answers with ${got}, but its index says ${entry.digest}`)
  })
}

/** Each manifest reached, by digest under /v2/ (HEAD: type, caching, digest, size). */
async function checkV2Manifests(run: SiteChecks, name: string, manifests: GraphNode[], base: string): Promise<void> {
  await mapLimit(manifests, run.limit, async (node) => {
    const d = node.descriptor
    const answer = await run.fetchChecked(at(base, { kind: 'manifest', repo: name, digest: parseDigest(d.digest) }), { method: 'HEAD', type: node.mediaType, cache: 'immutable', digest: d.digest, size: d.size, accept: manifestAccept, what: `/v2/ ${name}@${d.digest}` })
    answer?.discard()
  })
}

/** Each blob of each manifest reached, under /v2/ (HEAD, or GET and hash with --deep). */
async function checkV2Blobs(run: SiteChecks, name: string, manifests: GraphNode[], base: string): Promise<void> {
  const blobs = new Map<string, Descriptor>()
  for (const n of manifests) if (n.kind === 'manifest') for (const c of n.children) blobs.set(c.digest, c)
  await mapLimit([...blobs.values()], run.limit, async (d) => {
    const url = at(base, { kind: 'blob-link', repo: name, digest: parseDigest(d.digest) })
    const answer = await run.fetchChecked(url, { method: run.options.deep ? 'GET' : 'HEAD', type: MediaType.octetStream, cache: 'immutable', digest: d.digest, size: d.size, what: `/v2/ blob ${d.digest} of ${name}` })
    if (answer && run.options.deep) await run.checkBody(answer, d, url)
    else answer?.discard()
  })
}

function finish(result: VerifyResult): VerifyResult {
  result.ok = result.problems.length === 0
  return result
}

import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OcisiteError } from '../errors.js'
import { casFetchBytes } from '../content/cas-fetch.js'
import { httpGet, readCapped, fetchJson } from '../http/client.js'
import { parseDescriptor, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { distributionPaths } from '../oci/distribution.js'
import type { ImageName } from '../oci/image-name.js'
import { MediaType } from '../oci/media-types.js'
import { MAX_SIGNATURE_BYTES, type FetchBlob } from '../sign/blob.js'
import { BUNDLE_MEDIA_TYPE, bundleCandidates, type BundleCandidate } from '../sign/cosign-bundle.js'
import { cosignSignatureTag, tagCandidates, type TagCandidate } from '../sign/cosign-tag.js'
import { lookasideUrl } from '../sign/lookaside.js'
import type { GpgCandidate } from '../sign/openpgp.js'
import type { SignatureSource } from '../sign/policy/evaluate.js'
import type { DiscoveryOptions } from './discovery.js'
import { resolveName, type ResolvedRoot } from './resolve.js'

// Where a consumer finds the signatures of a digest it is about to fetch, as cosign and
// containers/image look for them: the `.sig` tag in the image's index, Sigstore bundles among
// the referrers (/v2/ referrers API, else the `sha256-<hex>` fallback tag), and containers
// signatures in a lookaside (`<repository>@sha256=<hex>/signature-<n>`). Nothing is stored.

/** A lookaside answering 200 to every signature-<n> is refused past this many. */
const MAX_LOOKASIDE_SIGNATURES = 64

/** The signatures of `root` (in the image `name`): fetched only when the policy asks for them. */
export function signatureSource(name: ImageName, root: ResolvedRoot, lookaside: string | undefined, options: DiscoveryOptions): SignatureSource {
  const digest = root.descriptor.digest
  const fetch: FetchBlob = (d) => casFetchBytes(root.casEngines, d, options)
  return {
    cosign: async () => [...(await tagScheme(name, digest, fetch, options)), ...(await bundles(name, root, fetch, options))],
    gpg: async () => (lookaside === undefined ? [] : lookasideSignatures(lookaside, name.path, digest, options)),
  }
}

/** The site's own lookaside, `/signatures/` at the root of the host that served the index. */
export function siteLookaside(root: ResolvedRoot): string | undefined {
  const url = new URL(root.uri)
  return url.protocol === 'https:' || url.protocol === 'http:' ? new URL('/signatures/', url).toString() : undefined
}

/** cosign's tag scheme: the layers of `sha256-<hex>.sig`, looked up in the image's index. */
async function tagScheme(name: ImageName, digest: string, fetch: FetchBlob, options: DiscoveryOptions): Promise<TagCandidate[]> {
  const tag = cosignSignatureTag(digest)
  let sig: ResolvedRoot | undefined
  try {
    sig = (await resolveName({ ...name, fragment: tag }, options)).roots[0]
  } catch (err) {
    if (err instanceof OcisiteError && err.code === 'NOT_FOUND') return []
    throw err
  }
  if (!sig) return []
  const where = `${name.host}/${name.path}#${tag}`
  return tagCandidates(await fetch(sig.descriptor), where, fetch)
}

/** Sigstore bundles among the referrers of the root, as the site's /v2/ lists them. */
async function bundles(name: ImageName, root: ResolvedRoot, fetch: FetchBlob, options: DiscoveryOptions): Promise<BundleCandidate[]> {
  const out: BundleCandidate[] = []
  for (const r of await referrers(name, root, options)) {
    if (r.artifactType !== undefined && r.artifactType !== BUNDLE_MEDIA_TYPE) continue
    if (r.size > MAX_SIGNATURE_BYTES) continue
    out.push(...(await bundleCandidates(await fetch(r), `referrer ${r.digest}`, fetch)))
  }
  return out
}

/**
 * The referrers of the root: the /v2/ referrers API, or (a host without it) the OCI fallback
 * tag `sha256-<hex>`, as cosign and oras read them. None when neither answers.
 */
async function referrers(name: ImageName, root: ResolvedRoot, options: DiscoveryOptions): Promise<Descriptor[]> {
  const base = new URL(root.uri)
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return []
  const d = parseDigest(root.descriptor.digest)
  for (const urlPath of [distributionPaths.referrers(name.path, d.value), distributionPaths.manifest(name.path, `${d.algorithm}-${d.encoded}`)]) {
    const url = new URL(urlPath, base).toString()
    try {
      const doc = await fetchJson(url, [MediaType.ociIndex], options)
      options.onEvent?.({ type: 'attempt', url: doc.url, ok: true })
      const list = Array.isArray(doc.body.manifests) ? doc.body.manifests : []
      return list.map((m, i) => parseDescriptor(m, `${doc.url} manifests[${i}]`))
    } catch (err) {
      // Either view may be missing: a host without /v2/ has neither, and then no bundle.
      if (!(err instanceof OcisiteError)) throw err
      options.onEvent?.({ type: 'attempt', url, ok: false, error: err.message })
    }
  }
  return []
}

/** containers signatures of `digest`: signature-1, -2, … under the lookaside, until one is missing. */
async function lookasideSignatures(base: string, repository: string, digest: string, options: DiscoveryOptions): Promise<GpgCandidate[]> {
  const out: GpgCandidate[] = []
  for (let index = 1; index <= MAX_LOOKASIDE_SIGNATURES; index++) {
    const url = lookasideUrl(base, { repository, digest, index })
    const signature = await readSignature(url, options)
    if (!signature) return out
    out.push({ kind: 'gpg', source: url, signature })
  }
  throw new OcisiteError('PROTOCOL', `${base}: more than ${MAX_LOOKASIDE_SIGNATURES} signatures of ${repository}@${digest}`, { url: base })
}

/** One lookaside file (http, https or file URL); undefined when it does not exist. */
async function readSignature(url: string, options: DiscoveryOptions): Promise<Buffer | undefined> {
  if (url.startsWith('file:')) {
    return fs.readFile(fileURLToPath(url)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw new OcisiteError('POLICY_INVALID', `${url}: cannot read the lookaside signature (${err.code ?? err.message})`, { url }, { cause: err })
    })
  }
  const res = await httpGet(url, '*/*', options)
  if (res.status === 404) {
    res.body.destroy()
    options.onEvent?.({ type: 'attempt', url: res.url, ok: false, error: '404 Not Found' })
    return undefined
  }
  if (res.status !== 200) {
    res.body.destroy()
    throw new OcisiteError('PROTOCOL', `GET ${res.url}: status ${res.status} from the lookaside`, { url: res.url })
  }
  options.onEvent?.({ type: 'attempt', url: res.url, ok: true })
  return readCapped(res, MAX_SIGNATURE_BYTES, () => `GET ${res.url}: a signature over ${MAX_SIGNATURE_BYTES} bytes`)
}

import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OcisiteError } from '../errors.js'
import { fetchAll } from '../content/read.js'
import { RemoteStore } from '../content/remote-store.js'
import { httpGet, readCapped, fetchJson } from '../http/client.js'
import { parseDescriptor, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { distributionPaths } from '../oci/distribution.js'
import type { ImageName } from '../oci/image-name.js'
import { MediaType } from '../oci/media-types.js'
import { MAX_SIGNATURE_BYTES } from '../sign/blob.js'
import type { SignatureSource } from '../sign/policy/evaluate.js'
import { SITE_LOOKASIDE_PATH, signatureSource as sharedSource, type SignatureLookup } from '../sign/signature-lookup.js'
import type { DiscoveryOptions } from './discovery.js'
import { resolveName, type ResolvedRoot } from './resolve.js'

// Where a consumer finds the signatures of a digest it is about to fetch (sign/'s
// SignatureLookup, reached through discovery): the `.sig` tag in the image's index, Sigstore
// bundles among the referrers (/v2/ referrers API, else the `sha256-<hex>` fallback tag), and
// containers signatures in a lookaside. Nothing is stored.

/** The signatures of `root` (in the image `name`): fetched only when the policy asks for them. */
export function signatureSource(name: ImageName, root: ResolvedRoot, lookaside: string | undefined, options: DiscoveryOptions): SignatureSource {
  const lookup: SignatureLookup = {
    tag: (tag) => taggedDescriptor(name, tag, options),
    referrers: () => referrers(name, root, options),
    fetch: (d) => fetchAll(new RemoteStore(root.casEngines, options), d),
    ...(lookaside === undefined ? {} : { lookaside: { base: lookaside, read: (url: string) => readSignature(url, options) } }),
  }
  return sharedSource(lookup, { repository: name.path, where: `${name.host}/${name.path}` }, root.descriptor.digest)
}

/** The site's own lookaside, `/signatures/` at the root of the host that served the index. */
export function siteLookaside(root: ResolvedRoot): string | undefined {
  const url = new URL(root.uri)
  return url.protocol === 'https:' || url.protocol === 'http:' ? new URL(SITE_LOOKASIDE_PATH, url).toString() : undefined
}

/** What a tag of the image names (cosign's `.sig` tag), looked up in the image's index. */
async function taggedDescriptor(name: ImageName, tag: string, options: DiscoveryOptions): Promise<Descriptor | undefined> {
  try {
    return (await resolveName({ ...name, fragment: tag }, options)).roots[0]?.descriptor
  } catch (err) {
    if (err instanceof OcisiteError && err.code === 'NOT_FOUND') return undefined
    throw err
  }
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

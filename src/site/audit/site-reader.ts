import { OcisiteError } from '../../errors.js'
import { parseDescriptor, REF_NAME, type Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { casEngines, engineList, expandUri, type CasEngine } from '../../oci/engines.js'
import { MediaType } from '../../oci/media-types.js'
import { casUrl } from '../../content/remote-store.js'
import { verifyBytes } from '../../content/ingest/verify.js'
import type { ReadBlob, ReferrersOf } from '../facts/tag-facts.js'
import { getFound, openTransport, type AuditOptions, type Transport } from './transport.js'

/** One tag of an image, as its index lists it, with the CAS engines that hold its blobs. */
export interface IndexedTag {
  tag: string
  entry: Descriptor
  engines: CasEngine[]
}

/**
 * A published site, read as a consumer reads it (the well-known document, an image's index,
 * blobs through the CAS engines, verified; referrers through /v2/): the one reader of `ls` and
 * `inspect`, over the transport `verify` uses, so a directory, its server and a bucket behind a
 * CDN give the same answers. Failures are errors: 3 when the site has no such image, else 4.
 */
export class SiteReader {
  /** Blobs read so far, by digest: tags share manifests and configs. */
  private readonly blobs = new Map<string, Promise<Buffer>>()

  private constructor(
    readonly target: string,
    private readonly transport: Transport,
    private readonly refEngine: string,
    private readonly siteCas: CasEngine[],
    /** The site serves /v2/: a catalog, tags lists, the referrers API. */
    readonly v2: boolean,
    private readonly dirImages: (() => Promise<string[]>) | undefined,
  ) {}

  static async open(target: string, options: AuditOptions = {}): Promise<SiteReader> {
    const { transport, images } = await openTransport(target, options)
    const wellKnown = await json(transport, transport.wellKnown, 'the ref-engines document', target)
    if (!wellKnown) throw new OcisiteError('NOT_FOUND', `${target}: no ref-engines document (${transport.display(transport.wellKnown)}); is this an ocisite site?`, { target })
    const ref = engineList(wellKnown.refEngines).find((e) => e.protocol === 'oci-index-template-v1' && typeof e.uri === 'string')
    if (!ref) throw new OcisiteError('PROTOCOL', `${target}: the ref-engines document names no oci-index-template-v1 engine`, { target })
    const base = await transport.request(new URL('/v2/', transport.wellKnown).toString(), 'GET')
    base.discard()
    const v2 = base.status === 200
    return new SiteReader(target, transport, ref.uri as string, casEngines(engineList(wellKnown.casEngines), transport.wellKnown), v2, images)
  }

  /** The site's image paths: its /v2/ catalog, or (a directory without /v2/) its indexes. */
  async images(): Promise<string[]> {
    if (this.v2) {
      const catalog = await json(this.transport, new URL('/v2/_catalog', this.transport.wellKnown).toString(), '/v2/_catalog', this.target)
      const repos = catalog?.repositories
      if (!Array.isArray(repos) || !repos.every((r) => typeof r === 'string')) throw new OcisiteError('PROTOCOL', `${this.target}: /v2/_catalog lists no repositories`, { target: this.target })
      return [...(repos as string[])].sort()
    }
    if (this.dirImages) return this.dirImages()
    throw new OcisiteError('NOT_FOUND', `${this.target}: the site serves no /v2/_catalog to list its images; name an image path`, { target: this.target })
  }

  /** The tags an image's index lists, in its order; NOT_FOUND when the site has no such image. */
  async tags(imagePath: string): Promise<IndexedTag[]> {
    const url = expandUri(this.refEngine, { path: imagePath }, this.transport.wellKnown)
    const index = await json(this.transport, url, `the index of ${imagePath}`, this.target)
    if (!index) throw new OcisiteError('NOT_FOUND', `${this.target} publishes no image ${imagePath}`, { path: imagePath })
    const entries = Array.isArray(index.manifests) ? index.manifests : []
    return entries.flatMap((raw, i) => {
      const { parsedDigest: _, ...entry } = parseDescriptor(raw, `${this.transport.display(url)} manifests[${i}]`)
      const tag = entry.annotations?.[REF_NAME]
      if (typeof tag !== 'string') return []
      return [{ tag, entry, engines: [...casEngines(engineList(entry.casEngines), url), ...this.siteCas] }]
    })
  }

  /** Read small blobs through `engines` (the first that answers), verified by digest. */
  reader(engines: CasEngine[]): ReadBlob {
    const cache = this.blobs
    const read = async (desc: Descriptor, limit: number): Promise<Buffer> => {
      const digest = parseDigest(desc.digest, this.target)
      if (desc.size > limit) throw new OcisiteError('PROTOCOL', `${this.target}: ${digest.value} is ${desc.size} bytes, over the ${limit}-byte limit`, { digest: digest.value })
      let last: OcisiteError | undefined
      for (const engine of engines) {
        const url = casUrl(engine, digest.value)
        const answer = await this.transport.request(url, 'GET')
        if (answer.status !== 200) {
          answer.discard()
          last = new OcisiteError('PROTOCOL', `${this.transport.display(url)}: HTTP ${answer.status} for blob ${digest.value}`, { digest: digest.value })
          continue
        }
        const bytes = await answer.bytes(limit)
        verifyBytes(bytes, { digest, size: desc.size, label: this.transport.display(url) })
        return bytes
      }
      throw last ?? new OcisiteError('PROTOCOL', `${this.target}: no CAS engine names where ${digest.value} is`, { digest: digest.value })
    }
    return (desc, limit) => {
      let p = cache.get(desc.digest)
      if (!p) cache.set(desc.digest, (p = read(desc, limit)))
      return p
    }
  }

  /** The referrers of a manifest in an image path: the /v2/ referrers API, else its `sha256-<hex>` tag; none without /v2/. */
  referrersOf(imagePath: string): ReferrersOf {
    return async (subject) => {
      if (!this.v2) return []
      const d = parseDigest(subject, this.target)
      const repo = new URL(`/v2/${imagePath}/`, this.transport.wellKnown)
      const listed =
        (await json(this.transport, new URL(`referrers/${d.value}`, repo).toString(), `the referrers of ${imagePath}@${d.value}`, this.target)) ??
        (await json(this.transport, new URL(`manifests/${d.algorithm}-${d.encoded}`, repo).toString(), `the referrers tag of ${imagePath}@${d.value}`, this.target, MediaType.ociIndex))
      const manifests = Array.isArray(listed?.manifests) ? listed.manifests : []
      return manifests.map((m, i) => {
        const { parsedDigest: _, ...r } = parseDescriptor(m, `referrers of ${imagePath}@${d.value} [${i}]`)
        return r
      })
    }
  }
}

/** A JSON document: its body, undefined for a 404, an error for anything else. */
async function json(transport: Transport, url: string, what: string, target: string, accept?: string): Promise<Record<string, unknown> | undefined> {
  const answer = await getFound(transport, url, accept, (status) => new OcisiteError('PROTOCOL', `${target}: ${what} (${transport.display(url)}): HTTP ${status}`, { url }))
  if (!answer) return undefined
  return parseJsonObject(await answer.bytes(MAX_JSON_BYTES), `${transport.display(url)} (${what})`)
}

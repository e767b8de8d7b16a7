import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { MediaType } from '../../oci/media-types.js'
import type { GraphNode } from '../../oci/node.js'
import { walk, type NodeCache } from '../../content/graph.js'
import type { Fetcher } from '../../content/storage.js'
import type { CasEngine } from '../../oci/engines.js'
import { parseContentType } from '../../http/client.js'
import { casUrl } from '../../content/remote-store.js'
import type { Answer, Transport } from './transport.js'
import type { Expect, ProblemKind, VerifyOptions, VerifyResult } from './verify-result.js'

/** Longest a document may be cached before a publish shows: documents change on every publish. */
const MAX_DOCUMENT_AGE = 600

/**
 * A failure verify notes as a problem of the site: an ocisite error, except missing or refused
 * credentials (then verify cannot see the site, which is not the site's fault: it propagates).
 */
function isSiteProblem(err: unknown): err is OcisiteError {
  return err instanceof OcisiteError && err.code !== 'AUTH_FAILED'
}

/**
 * One verify run's requests and what they found: every request is counted and checked (status,
 * headers), problems are noted in the result, and each blob and manifest is checked once.
 */
export class SiteChecks {
  readonly result: VerifyResult
  /** Requests at once. */
  readonly limit: number
  private readonly checkedBlobs = new Map<string, Promise<void>>()
  private readonly cache: NodeCache = new Map()
  private readonly documents = new Map<string, Promise<Buffer | undefined>>()
  private readonly unreadable = new Set<string>()

  constructor(
    readonly transport: Transport,
    readonly options: VerifyOptions,
    target: string,
  ) {
    this.result = { target, ok: false, deep: !!options.deep, v2: false, checked: { requests: 0, images: 0, tags: 0, manifests: 0, blobs: 0 }, problems: [] }
    this.limit = options.concurrency ?? 16
  }

  problem(kind: ProblemKind, url: string, message: string): void {
    this.result.problems.push({ kind, url: this.transport.display(url), message })
  }

  /** Request `url` and check status and headers; undefined (with the problem noted) when it fails. */
  async fetchChecked(url: string, expect: Expect): Promise<Answer | undefined> {
    this.result.checked.requests++
    let answer: Answer
    try {
      answer = await this.transport.request(url, expect.method ?? 'GET', expect.accept)
    } catch (err) {
      // Credentials missing or refused: verify cannot see the site, which is not the site's problem.
      if (!isSiteProblem(err)) throw err
      this.problem('unreachable', url, `${expect.what}: ${err.message}`)
      return undefined
    }
    const status = expect.status ?? 200
    if (answer.status === 404 && expect.absentOk) {
      answer.discard()
      return undefined
    }
    if (answer.status !== status) {
      answer.discard()
      this.problem(expect.statusKind ?? 'status', url, `${expect.what}: HTTP ${answer.status}, expected ${status}`)
      return undefined
    }
    this.checkHeaders(url, answer, expect)
    return answer
  }

  /** Content-Type, Cache-Control, Docker-Content-Digest and Content-Length of an answer. */
  private checkHeaders(url: string, answer: Answer, expect: Expect): void {
    const problem = this.problem.bind(this)
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
  }

  /** A JSON document: fetched, checked, parsed; undefined when it fails. */
  async document(url: string, expect: Expect): Promise<{ bytes: Buffer; body: Record<string, unknown> } | undefined> {
    const answer = await this.fetchChecked(url, expect)
    if (!answer) return undefined
    try {
      const bytes = await answer.bytes(MAX_JSON_BYTES)
      return { bytes, body: parseJsonObject(bytes, expect.what) }
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      this.problem('document', url, `${expect.what}: ${err.message}`)
      return undefined
    }
  }

  /** A blob through the CAS: HEAD and its size, or (deep) GET and its digest; once per digest. */
  checkBlob(desc: Descriptor, engines: CasEngine[]): Promise<void> {
    let p = this.checkedBlobs.get(desc.digest)
    if (!p) {
      p = (async () => {
        this.result.checked.blobs++
        const url = casUrl(engines[0]!, desc.digest)
        const answer = await this.fetchChecked(url, { method: this.options.deep ? 'GET' : 'HEAD', type: MediaType.octetStream, size: desc.size, what: `blob ${desc.digest}` })
        if (answer && this.options.deep) await this.checkBody(answer, desc, url)
        else answer?.discard()
      })()
      this.checkedBlobs.set(desc.digest, p)
    }
    return p
  }

  /** The body's size and digest against its descriptor. */
  async checkBody(answer: Answer, desc: Descriptor, url: string): Promise<void> {
    const digest = parseDigest(desc.digest)
    const { size, hex } = await answer.hash(digest.algorithm).catch((err: unknown) => {
      if (!(err instanceof OcisiteError)) throw err
      this.problem('unreachable', url, `${desc.digest}: ${err.message}`)
      return { size: -1, hex: '' }
    })
    if (size < 0) return
    if (size !== desc.size) this.problem('size', url, `${desc.digest}: ${size} bytes, its descriptor says ${desc.size}`)
    else if (`${digest.algorithm}:${hex}` !== digest.value) this.problem('digest', url, `${desc.digest}: the bytes served hash to ${digest.algorithm}:${hex}`)
  }

  /** A manifest or index through the CAS, requested once: its headers, size and digest checked. */
  private readDocument(desc: Descriptor, url: string): Promise<Buffer | undefined> {
    let p = this.documents.get(desc.digest)
    if (!p) {
      p = (async () => {
        this.result.checked.manifests++
        const doc = await this.fetchChecked(url, { type: MediaType.octetStream, size: desc.size, what: `manifest ${desc.digest}` })
        const bytes = await doc?.bytes(MAX_JSON_BYTES).catch((err: unknown) => {
          if (!isSiteProblem(err)) throw err
          this.problem('unreachable', url, `manifest ${desc.digest}: ${err.message}`)
          return undefined
        })
        const got = bytes && digestOf(bytes, parseDigest(desc.digest).algorithm)
        if (!bytes || (bytes.byteLength === desc.size && got === desc.digest)) return bytes
        this.problem('digest', url, `manifest ${desc.digest}: the bytes served (${bytes.byteLength}) hash to ${got}`)
        return undefined
      })()
      this.documents.set(desc.digest, p)
    }
    return p
  }

  /**
   * The graphs below `roots` through the CAS `engines` (the content layer's one walk), into
   * `found`; then every blob they name. Documents that cannot be read or parsed are noted once
   * and walked as leaves (they name nothing more).
   */
  async walkInto(roots: Descriptor[], engines: CasEngine[], found: Map<string, GraphNode>): Promise<void> {
    const url = (desc: Descriptor) => casUrl(engines[0]!, desc.digest)
    const cas: Fetcher = {
      label: this.result.target,
      fetch: async (desc, use) => {
        const bytes = await this.readDocument(desc, url(desc))
        if (!bytes) {
          this.unreadable.add(desc.digest)
          throw new OcisiteError('PROTOCOL', `${this.transport.display(url(desc))}: manifest ${desc.digest} cannot be read`, { digest: desc.digest })
        }
        return use({ stream: [bytes], label: this.transport.display(url(desc)) })
      },
    }
    const asLeaf = (desc: Descriptor, err: unknown) => {
      if (this.unreadable.has(desc.digest)) return true
      if (!isSiteProblem(err)) return false
      this.unreadable.add(desc.digest)
      this.problem('document', url(desc), err.message)
      return true
    }
    // Only what the walk itself refuses (one digest described with two sizes) comes out of it.
    const walked = await walk(cas, roots, { cache: this.cache, asLeaf, concurrency: this.limit }).catch((err: unknown) => {
      if (!isSiteProblem(err)) throw err
      this.problem('document', url(roots[0]!), err.message)
    })
    if (!walked) return
    const blobs: Descriptor[] = []
    for (const node of walked.nodes) {
      const digest = node.descriptor.digest
      if (this.unreadable.has(digest)) continue
      if (node.kind !== 'blob' || this.documents.has(digest)) found.set(digest, node)
      else blobs.push(node.descriptor)
    }
    await mapLimit(blobs, this.limit, (d) => this.checkBlob(d, engines))
  }
}

import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { MediaType } from '../../oci/media-types.js'
import { readNode, type DagNode } from '../../oci/walk.js'
import type { CasEngine } from '../../oci/engines.js'
import { parseContentType } from '../../http/client.js'
import { casUrl } from '../../content/remote-store.js'
import type { Answer, Transport } from './transport.js'
import type { Expect, ProblemKind, VerifyOptions, VerifyResult } from './verify-result.js'

/** Longest a document may be cached before a publish shows: documents change on every publish. */
const MAX_DOCUMENT_AGE = 600

/**
 * One verify run's requests and what they found: every request is counted and checked (status,
 * headers), problems are noted in the result, and each blob and manifest is checked once.
 */
export class SiteChecks {
  readonly result: VerifyResult
  /** Requests at once. */
  readonly limit: number
  private readonly checkedBlobs = new Map<string, Promise<void>>()
  private readonly nodes = new Map<string, Promise<DagNode | undefined>>()

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
      if (!(err instanceof OcisiteError)) throw err
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

  /** A manifest or index, read through the CAS and verified, then its children. */
  walk(desc: Descriptor, engines: CasEngine[], found: Map<string, DagNode>): Promise<void> {
    let p = this.nodes.get(desc.digest)
    if (!p) {
      p = this.readManifest(desc, engines)
      this.nodes.set(desc.digest, p)
    }
    return p.then(async (node) => {
      if (!node || found.has(desc.digest)) return
      found.set(desc.digest, node)
      await mapLimit(node.children, this.limit, (child) => (node.kind === 'index' ? this.walk(child, engines, found) : this.checkBlob(child, engines)))
    })
  }

  /** A manifest's bytes through the CAS, checked against its descriptor and parsed. */
  private async readManifest(desc: Descriptor, engines: CasEngine[]): Promise<DagNode | undefined> {
    this.result.checked.manifests++
    const url = casUrl(engines[0]!, desc.digest)
    const doc = await this.fetchChecked(url, { type: MediaType.octetStream, size: desc.size, what: `manifest ${desc.digest}` })
    if (!doc) return undefined
    const bytes = await doc.bytes(MAX_JSON_BYTES).catch(() => undefined)
    if (!bytes) return undefined
    const got = digestOf(bytes, parseDigest(desc.digest).algorithm)
    if (bytes.byteLength !== desc.size || got !== desc.digest) {
      this.problem('digest', url, `manifest ${desc.digest}: the bytes served (${bytes.byteLength}) hash to ${got}`)
      return undefined
    }
    try {
      return await readNode({ label: this.transport.display(url), readJson: async () => bytes }, desc)
    } catch (err) {
      if (!(err instanceof OcisiteError)) throw err
      this.problem('document', url, err.message)
      return undefined
    }
  }
}

import { createHash } from 'node:crypto'
import { parseTemplate } from 'url-template'

/** Exact Content-Types the protocol requires. */
export const TYPES = {
  refEngines: 'application/vnd.oci.ref-engines.v1+json; charset=utf-8',
  index: 'application/vnd.oci.image.index.v1+json; charset=utf-8',
  blob: 'application/octet-stream',
}

interface Desc {
  mediaType?: string
  digest: string
  size: number
  annotations?: Record<string, string>
}

export interface WalkResult {
  root: Desc
  /** Digest → verified bytes length, for every blob fetched through the CAS template. */
  blobs: Map<string, number>
  contentTypes: Set<string>
}

async function get(url: string): Promise<{ res: Response; bytes: Buffer }> {
  const res = await fetch(url)
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`)
  return { res, bytes: Buffer.from(await res.arrayBuffer()) }
}

/**
 * A consumer written for the tests, independent of ocisite's client: fetch the well-known
 * document, expand the ref template, pick the entry by tag, then fetch and verify every
 * reachable blob through the CAS template, checking each Content-Type on the way.
 */
export async function walkSite(base: string, imagePath: string, tag: string, options: { reserved?: boolean } = {}): Promise<WalkResult> {
  const wellKnown = new URL('/.well-known/oci-host-ref-engines', base).toString()
  const doc = await get(wellKnown)
  if (doc.res.headers.get('content-type') !== TYPES.refEngines) throw new Error(`well-known Content-Type ${doc.res.headers.get('content-type')}`)
  const engines = JSON.parse(doc.bytes.toString()) as { refEngines: Array<{ protocol: string; uri: string }> }
  const ref = engines.refEngines.find((e) => e.protocol === 'oci-index-template-v1')!
  const template = options.reserved ? ref.uri.replace('{path}', '{+path}') : ref.uri
  const indexUrl = new URL(parseTemplate(template).expand({ path: imagePath, host: 'h', name: 'n', fragment: tag }), wellKnown).toString()
  const index = await get(indexUrl)
  if (index.res.headers.get('content-type') !== TYPES.index) throw new Error(`index Content-Type ${index.res.headers.get('content-type')}`)
  const entries = (JSON.parse(index.bytes.toString()) as { manifests: Array<Desc & { casEngines: Array<{ protocol: string; uri: string }> }> }).manifests
  const entry = entries.find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === tag)
  if (!entry) throw new Error(`no entry for tag ${tag} at ${indexUrl}`)
  const cas = entry.casEngines.find((e) => e.protocol === 'oci-cas-template-v1')!
  const blobs = new Map<string, number>()
  const contentTypes = new Set<string>()
  const fetchBlob = async (d: Desc): Promise<Buffer> => {
    const [algorithm, encoded] = d.digest.split(':') as [string, string]
    const url = new URL(parseTemplate(cas.uri).expand({ digest: d.digest, algorithm, encoded }), indexUrl).toString()
    const { res, bytes } = await get(url)
    contentTypes.add(res.headers.get('content-type') ?? '')
    const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
    if (actual !== d.digest || bytes.length !== d.size) throw new Error(`blob ${d.digest} from ${url} does not verify (${actual}, ${bytes.length} bytes)`)
    blobs.set(d.digest, bytes.length)
    return bytes
  }
  const visit = async (d: Desc): Promise<void> => {
    if (blobs.has(d.digest)) return
    const bytes = await fetchBlob(d)
    const type = d.mediaType ?? ''
    if (type.endsWith('image.index.v1+json') || type.endsWith('manifest.list.v2+json')) {
      for (const m of (JSON.parse(bytes.toString()) as { manifests: Desc[] }).manifests) await visit(m)
    } else if (type.endsWith('image.manifest.v1+json') || type.endsWith('manifest.v2+json')) {
      const body = JSON.parse(bytes.toString()) as { config: Desc; layers?: Desc[] }
      for (const c of [body.config, ...(body.layers ?? [])]) if (!blobs.has(c.digest)) await fetchBlob(c)
    }
  }
  await visit(entry)
  return { root: entry, blobs, contentTypes }
}

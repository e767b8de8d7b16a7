import { OcisiteError } from '../../errors.js'
import { lstatOrUndefined, stampOf, type FileStamp } from '../../fs/atomic.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { parseDigest, type Digest } from '../../oci/digest.js'
import type { GraphNode } from '../../oci/node.js'
import { successors, type NodeCache } from '../graph.js'
import type { Fetcher } from '../storage.js'

/** What a scan needs of a layout. */
export interface ScannableLayout extends Fetcher {
  listBlobs(): Array<{ digest: string; file: string }>
  paths: { blob(digest: Digest): string }
}

export interface ScanOptions {
  /** Looked at first: index.json's entries. */
  entries: Descriptor[]
  /** Nodes read already (reached from tags): taken as they are, and their files not scanned. */
  known?: NodeCache
  /** An index.json entry that is not a readable manifest is an error (a layout publishing tags). */
  strict: boolean
  /** Hears each blob file the scan looked at, with its stamp ('' for none): a build memo depends on them. */
  onLooked?(file: string, stamp: FileStamp): void
}

/** A manifest with a subject, found in a layout. */
export interface ScannedReferrer {
  node: GraphNode
  /** Its subject is not in the layout: it was named from elsewhere (a site, a registry). */
  outside: boolean
}

/** Blob files larger than this are not read as candidate referrers. */
const MAX_SCANNED = 1024n * 1024n

/**
 * Manifests in a layout that name a subject: index.json entries, then the small blobs (at most
 * 1 MiB, regular files) that nothing known reaches, in digest order. A scanned blob that is not a
 * readable manifest is simply not a referrer.
 */
export async function scanReferrers(layout: ScannableLayout, options: ScanOptions): Promise<ScannedReferrer[]> {
  const out: ScannedReferrer[] = []
  const seen = new Set<string>()
  const consider = async (desc: Descriptor, fromScan: boolean) => {
    if (seen.has(desc.digest)) return
    seen.add(desc.digest)
    let node: GraphNode
    try {
      node = options.known?.get(desc.digest) ?? (await successors(layout, desc))
    } catch (err) {
      if (!(err instanceof OcisiteError) || (options.strict && !fromScan)) throw err
      return
    }
    if (!node.subject || node.kind === 'blob') return
    const outside = lstatOrUndefined(layout.paths.blob(parseDigest(node.subject.digest)))?.isFile() !== true
    out.push({ node, outside })
  }
  for (const entry of options.entries) await consider(entry, false)
  const unvisited = layout.listBlobs().filter((b) => !options.known?.has(b.digest) && !seen.has(b.digest))
  for (const blob of unvisited.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))) {
    const st = lstatOrUndefined(blob.file)
    options.onLooked?.(blob.file, st ? stampOf(st) : '')
    if (!st?.isFile() || st.size > MAX_SCANNED) continue
    await consider({ mediaType: '', digest: blob.digest, size: Number(st.size) }, true)
  }
  return out
}

import { readSmall } from '../../fs/atomic.js'
import { discoveryDocuments, engineTemplates, type SiteFiles } from './documents.js'
import { renderHeadersFile } from '../serve/headers-file.js'
import type { SitePlan } from '../plan/plan.js'
import { SiteLayout } from '../map.js'
import { v2Tree, type V2Tree } from './v2.js'

/** The settings that shape a site's documents. */
export interface DocumentSettings {
  baseUrl: string | undefined
  v2: boolean
  headersFile: boolean
  /** Write the HTML pages (their documents come from pages/pages.ts, after everything they show). */
  html: boolean
}

/**
 * A plan's documents in dependency order (what a document names is written before it), and its
 * /v2/ tree. `pages` (the HTML pages, in their own order) go after the indexes they show and
 * before the well-known document, which stays last.
 */
export function siteDocuments(plan: SitePlan, settings: DocumentSettings, pages: SiteFiles[] = []): { documents: SiteFiles[]; v2: V2Tree | undefined } {
  const discovery = discoveryDocuments(plan, engineTemplates(settings.baseUrl))
  const v2: V2Tree | undefined = settings.v2 ? v2Tree(plan) : undefined
  const documents: SiteFiles[] = [...(v2 ? [v2, v2.siteWide] : []), discovery.indexes, ...pages, discovery.wellKnown]
  if (settings.headersFile) documents.push({ files: new Map([[SiteLayout.headersFile, Buffer.from(renderHeadersFile({ html: settings.html }))]]), links: new Map() })
  return { documents, v2 }
}

/** Every file a site publishing `plan` owns: the plan's blobs, the generated ones, and every document and link. */
export function expectedFiles(plan: SitePlan, v2: V2Tree | undefined, documents: SiteFiles[]): Set<string> {
  const expected = new Set<string>()
  for (const b of plan.blobs) expected.add(SiteLayout.blob(b.digest))
  for (const b of v2?.blobs ?? []) expected.add(SiteLayout.blob(b.digest))
  for (const d of documents) {
    for (const rel of d.links.keys()) expected.add(rel)
    for (const rel of d.files.keys()) expected.add(rel)
  }
  return expected
}

/** The order deletes go in: documents and links before the blobs they point at. */
export function deleteRank(rel: string): number {
  if (rel === SiteLayout.wellKnown || rel === SiteLayout.headersFile || SiteLayout.isPage(rel)) return 0
  if (rel.startsWith(`${SiteLayout.indexDir}/`)) return 1
  // A repository's tag list first, then its tags and referrers lists, then the manifests they name.
  if (rel.startsWith(`${SiteLayout.v2Dir}/`)) return rel.endsWith('/_tags.json') ? 2 : rel.includes('/_manifests/') ? 4 : 3
  return 5 // oci-cas
}

/**
 * What a site owns once a write is done, from the record of what it owned before: the expected
 * files, and (for an update, which keeps every blob: a pull that read an older index may still
 * need it) the blobs nothing publishes any more. The rest is stale, in delete order.
 */
export function ownedAfter(recorded: ReadonlySet<string>, expected: ReadonlySet<string>, keepBlobs: boolean): { owned: Set<string>; kept: string[]; stale: string[] } {
  const kept = keepBlobs ? [...recorded].filter((rel) => !expected.has(rel) && deleteRank(rel) === 5) : []
  const owned = new Set(expected)
  for (const rel of kept) owned.add(rel)
  const stale = [...recorded].filter((rel) => !owned.has(rel)).sort((a, b) => deleteRank(a) - deleteRank(b) || (a < b ? -1 : 1))
  return { owned, kept, stale }
}

/** A document's current bytes, when it still has the size it was seen with (else undefined: it is rewritten). */
export function readIfSize(file: string, size: number): Buffer | undefined {
  try {
    return readSmall(file, size, () => new Error('resized'))
  } catch {
    return undefined
  }
}

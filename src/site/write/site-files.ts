import { readSmall } from '../../fs/atomic.js'
import { discoveryDocuments, engineTemplates, type SiteFiles } from './documents.js'
import { renderHeadersFile } from '../serve/headers-file.js'
import type { SitePlan } from '../plan/plan.js'
import { deleteRank, entryOf, pathOf, phaseOf, type SiteEntry } from '../map.js'
import { v2Tree, type V2Tree } from './v2.js'
import { isMissing } from '../../fs/missing.js'

/** The settings that shape a site's documents. */
export interface DocumentSettings {
  baseUrl: string | undefined
  v2: boolean
  headersFile: boolean
  /** Write the HTML pages (their documents come from pages/pages.ts, after everything they show). */
  html?: boolean
}

/**
 * A plan's documents in groups, one per publishing phase of the site map, in order (what a
 * document names is written before it), and its /v2/ tree.
 */
export function siteDocuments(plan: SitePlan, settings: DocumentSettings, pages: SiteFiles[] = []): { documents: SiteFiles[]; v2: V2Tree | undefined } {
  const discovery = discoveryDocuments(plan, engineTemplates(settings.baseUrl))
  const v2: V2Tree | undefined = settings.v2 ? v2Tree(plan) : undefined
  // The HTML pages (`pages`) fall in their own phases: after the indexes, before the well-known document.
  const documents: SiteFiles[] = [...(v2 ? [v2, v2.siteWide] : []), discovery.indexes, ...pages, discovery.wellKnown]
  if (settings.headersFile) documents.push({ files: new Map([[pathOf({ kind: 'headers' }), Buffer.from(renderHeadersFile({ html: settings.html }))]]), links: new Map() })
  return { documents: byPhase(documents), v2 }
}

/** What a file ocisite writes is; every name it writes comes from the map, so it reads back. */
function siteEntry(rel: string): SiteEntry {
  const entry = entryOf(rel)
  if (!entry) throw new Error(`${rel}: not a name of the site map`)
  return entry
}

/** Documents regrouped by publishing phase, in order. */
function byPhase(groups: SiteFiles[]): SiteFiles[] {
  const phases = new Map<number, SiteFiles>()
  const groupOf = (rel: string) => {
    const phase = phaseOf(siteEntry(rel))
    let g = phases.get(phase)
    if (!g) phases.set(phase, (g = { files: new Map(), links: new Map() }))
    return g
  }
  for (const g of groups) {
    for (const [rel, digest] of g.links) groupOf(rel).links.set(rel, digest)
    for (const [rel, bytes] of g.files) groupOf(rel).files.set(rel, bytes)
  }
  return [...phases].sort(([a], [b]) => a - b).map(([, g]) => g)
}

/** Every file a site publishing `plan` owns: the plan's blobs, the generated ones, and every document and link. */
export function expectedFiles(plan: SitePlan, v2: V2Tree | undefined, documents: SiteFiles[]): Set<string> {
  const expected = new Set<string>()
  for (const b of plan.blobs) expected.add(pathOf({ kind: 'blob', digest: b.digest }))
  for (const b of v2?.blobs ?? []) expected.add(pathOf({ kind: 'blob', digest: b.digest }))
  for (const d of documents) {
    for (const rel of d.links.keys()) expected.add(rel)
    for (const rel of d.files.keys()) expected.add(rel)
  }
  return expected
}

/** The order deletes go in (the site map's): documents and links before the blobs they point at; a name the map does not know goes with the blobs. */
function rankOf(rel: string): number {
  return deleteRank(entryOf(rel) ?? { kind: 'blob' })
}

/**
 * What a site owns once a write is done, from the record of what it owned before: the expected
 * files, and (for an update, which keeps every blob: a pull that read an older index may still
 * need it) the blobs nothing publishes any more. The rest is stale, in delete order.
 */
export function ownedAfter(recorded: ReadonlySet<string>, expected: ReadonlySet<string>, keepBlobs: boolean): { owned: Set<string>; kept: string[]; stale: string[] } {
  const kept = keepBlobs ? [...recorded].filter((rel) => !expected.has(rel) && entryOf(rel)?.kind === 'blob') : []
  const owned = new Set(expected)
  for (const rel of kept) owned.add(rel)
  const stale = [...recorded].filter((rel) => !owned.has(rel)).map((rel) => ({ rel, rank: rankOf(rel) }))
  stale.sort((a, b) => a.rank - b.rank || (a.rel < b.rel ? -1 : 1))
  return { owned, kept, stale: stale.map((s) => s.rel) }
}

/** A document's current bytes, when it still has the size it was seen with (else undefined: it is rewritten). */
export function readIfSize(file: string, size: number): Buffer | undefined {
  const resized = new Error('resized')
  try {
    return readSmall(file, size, () => resized)
  } catch (err) {
    // Resized, missing, or a symbolic link put in its place (O_NOFOLLOW): rewritten.
    if (err === resized || isMissing(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return undefined
    throw err
  }
}

import { promises as fs, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRacy, stampAt, writeFileAtomic, type FileStamp } from '../../fs/atomic.js'
import type { VerifyCache } from '../../content/verify-cache.js'
import type { LayoutInput } from '../plan/inputs.js'
import { pathOf, type StateName } from '../map.js'
import type { SitePaths } from '../site-paths.js'
import { pushAll } from '../../arrays.js'
import { unlessMissing, unlessMissingSync } from '../../fs/missing.js'

/** The format written into the memo file; any other is ignored (it only costs a full build). */
const FORMAT = 'ocisite-build-memo-2'

/**
 * ocisite's own code and templates, and the dependencies installed beside it: a build by other
 * code (an upgrade, a local change) may write other documents from the same inputs, so they are
 * part of what a build depends on.
 */
function codeFiles(): string[] {
  const code = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '') // src or dist
  const pkg = path.dirname(code)
  const tree = (root: string) => {
    const rels = unlessMissingSync(() => readdirSync(root, { recursive: true }) as string[]) ?? []
    return rels.map((rel) => path.join(root, rel)).sort()
  }
  // npm rewrites node_modules/.package-lock.json on every install into that tree.
  return [...tree(code), ...tree(path.join(pkg, 'templates')), path.join(pkg, 'package.json'), path.join(pkg, 'node_modules', '.package-lock.json')]
}

/** What a build was asked, and the stamps of every file it read that the verify cache does not vouch for. */
export interface BuildRequest {
  /** The request: the host, the settings that shape documents, and each input layout as found. */
  key: string
  /** Input files (each layout's oci-layout, index.json and blob directories) and ocisite's code, with their stamps. */
  stamps: Array<[file: string, stamp: FileStamp]>
}

/**
 * What a build of `inputs` depends on besides the blobs and documents (which the verify cache
 * vouches for), taken before it plans: a file changed while it plans then no longer matches.
 * Undefined for inputs a memo cannot cover (archives are extracted afresh each time).
 */
export function buildRequest(settings: { host: string; baseUrl: string | undefined; v2: boolean; headersFile: boolean; html: boolean }, inputs: LayoutInput[]): BuildRequest | undefined {
  if (inputs.some((i) => i.layout.fromArchive)) return undefined
  const key = JSON.stringify([FORMAT, settings.host, settings.baseUrl ?? null, settings.v2, settings.headersFile, settings.html, inputs.map((i) => [i.layout.paths.root, i.imagePath, i.tags, i.searched])])
  const files: string[] = []
  for (const { layout } of inputs) {
    const blobs = layout.paths.blobsDir()
    // No blobs directory: its missing stamp is what is recorded.
    const algorithms = unlessMissingSync(() => readdirSync(blobs).sort()) ?? []
    files.push(layout.paths.ociLayout, layout.paths.indexJson, blobs)
    pushAll(files, algorithms.map((a) => path.join(blobs, a)))
  }
  pushAll(files, codeFiles())
  return { key, stamps: files.map((f) => [f, stampAt(f)]) }
}

/** ocisite's own files in the site that a build reads or writes, besides the verify cache's. */
const stateFiles = (['owned', 'published', 'unreferenced', 'verified'] satisfies StateName[]).map((name) => pathOf({ kind: 'state', name }))

interface MemoDoc<R> {
  format: string
  /** False for a build that cannot vouch for itself (see save): the next one plans. */
  usable: boolean
  key: string
  /** The input files (and ocisite's code) as `buildRequest` found them, each `file\tstamp`. */
  request: string[]
  /** Further files: what else the plan looked at, then the site's state files, each `file\tstamp`. */
  others: string[]
  /** How many files the verify cache vouched for when the memo was written. */
  vouched: number
  result: R
  warnings: string[]
}

/**
 * The memo of the last complete build (`.ocisite/build.json`, never served), as make keeps
 * file times: what the build was asked, the stamp of every file it depended on, and what it
 * returned. A build asked the same, while every one of those files still has its stamp and the
 * verify cache still vouches for every blob and document (each file unchanged since it was
 * verified), would write nothing: it returns the remembered result without planning.
 *
 * Every write to the site removes the memo first (a crash then leaves none), and it is usable
 * only when every stamp it holds is older than the racy window (a change within the same clock
 * tick as the stamp could go unseen, as git's index rule has it).
 */
export const BuildMemo = {
  file: (site: SitePaths) => site.abs(pathOf({ kind: 'state', name: 'build-memo' })),

  /** The remembered result, when nothing the last build depended on has changed. */
  async check<R>(site: SitePaths, request: BuildRequest, cache: VerifyCache): Promise<{ result: R; warnings: string[] } | undefined> {
    const bytes = await unlessMissing(fs.readFile(BuildMemo.file(site)))
    if (!bytes) return undefined
    let doc: MemoDoc<R>
    try {
      doc = JSON.parse(bytes.toString('utf8')) as MemoDoc<R>
    } catch (err) {
      if (err instanceof SyntaxError) return undefined // a torn memo is no memo: the build runs
      throw err
    }
    if (doc.format !== FORMAT || doc.usable !== true || doc.key !== request.key || !Array.isArray(doc.request) || !Array.isArray(doc.others)) return undefined
    if (doc.request.length !== request.stamps.length || request.stamps.some(([f, s], i) => doc.request[i] !== `${f}\t${s}`)) return undefined
    for (const line of doc.others) {
      const tab = line.indexOf('\t')
      if (line.slice(tab + 1) !== stampAt(line.slice(0, tab))) return undefined
    }
    if (cache.size !== doc.vouched || !cache.unchanged()) return undefined
    return { result: doc.result, warnings: doc.warnings }
  },

  /** Forget the memo: called under the lock before any write to the site. */
  async clear(site: SitePaths): Promise<void> {
    await fs.rm(BuildMemo.file(site), { force: true })
  },

  /**
   * Remember a build. `seen`: further input files the plan looked at (blobs the site takes from
   * another input, files the referrer scan read), with the stamps they had then. The memo is
   * usable only when `complete` (the verify cache vouches for every blob and document) and no
   * stamp is racily recent; otherwise it says so. Either way one file is written, so every
   * build makes the same writes whatever the clock (the crash test kills a build at each one).
   */
  async save<R>(site: SitePaths, request: BuildRequest, seen: Array<[string, FileStamp]>, complete: boolean, vouched: number, result: R, warnings: string[]): Promise<void> {
    const now = Date.now()
    if (!complete || [...request.stamps, ...seen].some(([, s]) => isRacy(s, now))) {
      await writeFileAtomic(BuildMemo.file(site), Buffer.from(JSON.stringify({ format: FORMAT, usable: false })))
      return
    }
    // The state files were written by this build under the lock; only another ocisite (which
    // takes the lock, and clears the memo) writes them.
    const state = stateFiles.map((rel) => `${site.abs(rel)}\t${stampAt(site.abs(rel))}`)
    const line = ([f, s]: [string, FileStamp]) => `${f}\t${s}`
    const doc: MemoDoc<R> = { format: FORMAT, usable: true, key: request.key, request: request.stamps.map(line), others: [...seen.map(line), ...state], vouched, result, warnings }
    await writeFileAtomic(BuildMemo.file(site), Buffer.from(JSON.stringify(doc)))
  },
}

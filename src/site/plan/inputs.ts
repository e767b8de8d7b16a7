import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { OciLayout } from '../../content/layout/oci-layout.js'
import { checkImagePath } from '../../oci/names.js'
import type { NormalizedBuildOptions } from '../options.js'
import { unlessMissing } from '../../fs/missing.js'

/** A layout ready to publish under an image path, with its tag filters. */
export interface LayoutInput {
  imagePath: string
  layout: OciLayout
  tags: string[]
  /** Found by searching a directory (not named directly): an empty one is skipped with a warning. */
  searched: boolean
}

const ARCHIVE = /\.(tar|tar\.gz|tgz)$/

/** Temporary directories for extracted archives, removed together. */
export class Scratch {
  private dirs: string[] = []
  async dir(): Promise<string> {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-'))
    this.dirs.push(d)
    return d
  }
  async dispose(): Promise<void> {
    await Promise.all(this.dirs.map((d) => fs.rm(d, { recursive: true, force: true })))
    this.dirs = []
  }
}

function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}

/**
 * Extract an archive and open the layout in it: an OCI archive (Docker 25 and later write one
 * inside `docker save`, beside legacy files that are ignored), or a docker-archive (manifest.json
 * and layer tars), converted into a layout of its own first.
 */
async function openArchive(file: string, scratch: Scratch, maxSize: number): Promise<OciLayout> {
  const dir = await scratch.dir()
  const { extractArchive } = await import('../../fs/tar-safety.js') // tar is loaded only for archives
  const { links } = await extractArchive(file, dir, maxSize)
  const label = displayName(file)
  const docker = await import('./docker-archive.js')
  const kind = docker.archiveKind(dir, links)
  if (kind === 'oci') return OciLayout.open(dir, { label, fromArchive: true })
  if (!kind) throw new OcisiteError('LAYOUT_INVALID', `${label}: neither an OCI archive (oci-layout is missing) nor a docker archive (manifest.json is missing)`, { file })
  const layout = await scratch.dir()
  await docker.convertDockerArchive(dir, links, layout, label, maxSize)
  return OciLayout.open(layout, { label, fromArchive: true })
}

function joinPath(prefix: string, rest: string): string {
  return [prefix, rest].filter((s) => s !== '' && s !== '.').join('/')
}

/** Open every input: a layout, an archive, or a directory searched for layouts and archives. */
export async function openInputs(images: NormalizedBuildOptions['images'], scratch: Scratch, maxArchiveSize: number): Promise<LayoutInput[]> {
  const found: LayoutInput[] = []
  for (const spec of images) {
    const label = displayName(spec.from)
    const st = await unlessMissing(fs.stat(spec.from))
    if (!st) throw new OcisiteError('INPUT_NOT_FOUND', `${label}: no such file or directory`, { file: spec.from })
    const own = (layout: OciLayout, name: string, searched = false) => {
      // A searched directory's path is a prefix; a single layout's explicit path is taken as is.
      const imagePath = searched ? joinPath(spec.path, name) : spec.explicitPath ? spec.path : name
      found.push({ imagePath: checkImagePath(imagePath, label), layout, tags: spec.tags, searched })
    }
    if (st.isFile()) {
      own(await openArchive(spec.from, scratch, maxArchiveSize), path.basename(spec.from).replace(ARCHIVE, ''))
      continue
    }
    if (await unlessMissing(fs.stat(path.join(spec.from, 'oci-layout')))) {
      own(await OciLayout.open(spec.from, { label }), path.basename(spec.from))
      continue
    }
    // Not a layout: search it. A layout's own directory is its image path.
    const { default: fg } = await import('fast-glob') // loaded only when a directory is searched
    const hits = await fg(['**/oci-layout', '**/*.tar', '**/*.tar.gz', '**/*.tgz'], {
      cwd: spec.from,
      onlyFiles: true,
      followSymbolicLinks: false,
      dot: false,
      // A layout's blob directories hold thousands of blobs and never a layout: not walked.
      // (So a layout whose own image path would end in blobs/sha256 is not found by search.)
      ignore: ['**/blobs/sha256/**', '**/blobs/sha512/**'],
    })
    hits.sort()
    const layoutDirs = hits.filter((h) => path.posix.basename(h) === 'oci-layout').map((h) => path.posix.dirname(h))
    const insideLayout = (h: string) => layoutDirs.some((d) => h.startsWith(`${d}/`))
    if (hits.length === 0) throw new OcisiteError('NOTHING_TO_PUBLISH', `${label}: not an OCI layout, and no layouts or archives below it`, { file: spec.from })
    for (const hit of hits) {
      if (path.posix.basename(hit) === 'oci-layout') {
        const dir = path.posix.dirname(hit)
        if (dir === '.') continue
        if (insideLayout(dir)) continue
        const layoutRoot = path.join(spec.from, dir)
        own(await OciLayout.open(layoutRoot, { label: displayName(layoutRoot) }), dir, true)
      } else if (!insideLayout(hit)) {
        own(await openArchive(path.join(spec.from, hit), scratch, maxArchiveSize), hit.replace(ARCHIVE, ''), true)
      }
    }
  }
  return found
}

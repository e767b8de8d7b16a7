import { lstat, readdir, readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { OcisiteError } from '../errors.js'
import { MAX_SIGNATURE_BYTES } from './blob.js'
import { parseLookasidePath, type LookasideEntry } from './lookaside.js'
import { checkOpenPgpMessage } from './openpgp.js'

/** One signature file of a lookaside staging tree, checked to be an OpenPGP message. */
export interface LookasideFile extends LookasideEntry {
  /** The file, as found under the tree's root. */
  readonly file: string
  readonly bytes: Buffer
}

/**
 * Read a lookaside staging tree as skopeo writes it (`--signatures DIR`): every file must be a
 * `<repository>@sha256=<hex>/signature-<n>` that is an OpenPGP message, with no gap in n (clients
 * stop at the first missing one). Symlinks, stray files and bad signatures are refused, naming
 * the file. Entries come sorted by repository, digest and index.
 */
export async function readLookasideTree(root: string): Promise<LookasideFile[]> {
  const files: LookasideFile[] = []
  for (const file of await regularFiles(root)) {
    const rel = relative(root, file).split(sep).join('/')
    const entry = parseLookasidePath(rel)
    if (!entry) throw new OcisiteError('SIGNATURE_INVALID', `${file}: not a lookaside signature (want <repository>@sha256=<hex>/signature-<n>)`, { file })
    const bytes = await readFile(file)
    if (bytes.length > MAX_SIGNATURE_BYTES) throw new OcisiteError('SIGNATURE_INVALID', `${file}: ${bytes.length} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit for a signature`, { file })
    await checkOpenPgpMessage(bytes, file)
    files.push({ ...entry, file, bytes })
  }
  files.sort((a, b) => compare(a.repository, b.repository) || compare(a.digest, b.digest) || a.index - b.index)
  checkNoGaps(files)
  return files
}

/** The index the next signature of `digest` in `repository` takes (1 if it has none). */
export function nextLookasideIndex(entries: readonly LookasideEntry[], repository: string, digest: string): number {
  return entries.filter((e) => e.repository === repository && e.digest === digest).reduce((max, e) => Math.max(max, e.index), 0) + 1
}

async function regularFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name)
    const st = await lstat(path)
    if (st.isDirectory()) out.push(...(await regularFiles(path)))
    else if (st.isFile()) out.push(path)
    else throw new OcisiteError('SIGNATURE_INVALID', `${path}: not a regular file or directory (symlinks are not followed)`, { file: path })
  }
  return out
}

function checkNoGaps(files: readonly LookasideFile[]): void {
  files.forEach((f, i) => {
    const prev = files[i - 1]
    const first = !prev || prev.repository !== f.repository || prev.digest !== f.digest
    const want = first ? 1 : prev.index + 1
    if (f.index !== want) throw new OcisiteError('SIGNATURE_INVALID', `${f.file}: signature-${want} is missing before it; clients stop at the first missing signature`, { file: f.file })
  })
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// The one tar-safety module, in process: the entry rules under both policies (an input archive
// records its symlinks, `get` makes them), the streaming extractor's outcomes, and get's layer
// extraction (digest first). Archives are written header by header, so every hostile entry is
// exactly what the table says.
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { extractTar } from '../../src/client/extract.js'
import { isOcisiteError } from '../../src/errors.js'
import { ARTIFACT_FILES, extractTarStream, INPUT_ARCHIVE, type TarPolicy } from '../../src/fs/tar-safety.js'
import { parseDigest } from '../../src/oci/digest.js'
import { rawTar, type RawEntry } from '../helpers/raw-tar.js'

let work: string
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-tar-'))
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

let n = 0
/** A fresh box with `dest` inside it, so anything written beside `dest` shows. */
async function box(): Promise<{ root: string; dest: string }> {
  const root = path.join(work, String(n++))
  await fs.mkdir(path.join(root, 'dest'), { recursive: true })
  return { root, dest: path.join(root, 'dest') }
}

/** The bytes, in chunks, counting how many were read. */
function source(bytes: Buffer, chunk = 700): { stream: AsyncIterable<Buffer>; read: () => number } {
  let read = 0
  async function* stream() {
    for (let at = 0; at < bytes.byteLength; at += chunk) {
      const part = bytes.subarray(at, at + chunk)
      read += part.byteLength
      yield part
    }
  }
  return { stream: stream(), read: () => read }
}

/** Every path under `dir`, sorted, with `@target` for symlinks. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const rel of (await fs.readdir(dir, { recursive: true })).map(String).sort()) {
    const st = await fs.lstat(path.join(dir, rel))
    out.push(st.isSymbolicLink() ? `${rel}@${await fs.readlink(path.join(dir, rel))}` : st.isDirectory() ? `${rel}/` : rel)
  }
  return out
}

const f = (name: string, content = 'x', mode?: number): RawEntry => ({ name, type: '0', content, ...(mode ? { mode } : {}) })
const sym = (name: string, linkname: string): RawEntry => ({ name, type: '2', linkname })
const hard = (name: string, linkname: string): RawEntry => ({ name, type: '1', linkname })
const dir = (name: string): RawEntry => ({ name, type: '5', mode: 0o755 })

describe('hostile entries: refused under both policies, nothing after them written, every byte read', () => {
  const cases: Array<[string, RawEntry[], string]> = [
    ['.. in a name', [f('../x')], 'entry "../x" climbs out with ".." and escapes the archive'],
    ['.. in the middle', [f('a/../../x')], 'climbs out with ".."'],
    ['an absolute name', [f('/etc/x')], 'entry "/etc/x" is an absolute path'],
    ['a backslash in a name', [f('a\\..\\x')], 'has a NUL or backslash'],
    ['a file that names nothing', [f('.')], 'entry "." names no file'],
    ['a symlink to /', [sym('root', '/'), f('root/tmp/x')], 'symlink "root" points at the absolute path /, so it is a symlink out of the archive'],
    ['a symlink up and out', [sym('up', '../..'), f('up/x')], 'symlink "up" points out of the directory (to "../..")'],
    // d/x is not a symlink yet when e is read; if it became one (to ../q), e would lead to DIR/..
    ['.. after a name in a symlink', [sym('e', 'd/x/../..'), dir('q/'), sym('d/x', '../q')], '".." after a name could lead out'],
    ['a file through a symlink that stays inside', [dir('b/'), sym('a', 'b'), f('a/x')], 'entry "a/x" would be written through the symlink "a"'],
    ['a file replacing a symlink', [sym('a', 'b'), f('a')], 'entry "a" replaces an earlier symlink'],
    ['a file twice', [f('x'), f('x')], 'entry "x" replaces an earlier file'],
    ['a directory over a file', [f('x'), dir('x/')], 'entry "x/" replaces an earlier file'],
    ['a file under a file', [f('x'), f('x/y')], 'entry "x/y" would be written under the file "x"'],
    ['a hard link out', [hard('passwd', '../../../../etc/passwd')], 'hard link "passwd" points at "../../../../etc/passwd", a hard link out of the archive'],
    ['a hard link to a later file', [hard('h', 'x'), f('x')], 'hard link "h" points at "x", which is not a file extracted before it'],
    ['a hard link to a directory', [dir('d/'), hard('h', 'd')], 'not a file extracted before it'],
    ['a hard link to a symlink', [f('x'), sym('l', 'x'), hard('h', 'l')], 'not a file extracted before it'],
    ['a device node', [{ name: 'null', type: '3' }], 'entry "null" is a device node (CharacterDevice)'],
    ['a FIFO', [{ name: 'p', type: '6' }], 'entry "p" is a FIFO'],
  ]
  const policies: Array<[string, TarPolicy]> = [
    ['input archive', INPUT_ARCHIVE],
    ['get', ARTIFACT_FILES],
  ]
  for (const [policyName, policy] of policies) {
    it.each(cases)(`${policyName}: %s`, async (_, entries, reason) => {
      const { root, dest } = await box()
      // A file after the hostile entries, which must not be written.
      const bytes = rawTar([f('first'), ...entries, f('after')])
      const src = source(bytes)
      const outcome = await extractTarStream(src.stream, dest, { policy, gzip: false })
      expect(outcome.refused).toContain(reason)
      expect(outcome.unreadable).toBeUndefined()
      expect(src.read()).toBe(bytes.byteLength)
      expect(await fs.readdir(root)).toEqual(['dest'])
      expect(await listing(dest)).not.toContain('after')
      expect(await listing(dest)).toContain('first')
    })
  }
})

describe('what both policies extract', () => {
  const tree: RawEntry[] = [
    dir('./'),
    dir('app/'),
    f('app/run.sh', '#!/bin/sh\n', 0o755),
    f('app/conf/a.yaml', 'a: 1\n', 0o600),
    dir('app/'), // a directory may repeat
    sym('app/current', 'conf/a.yaml'),
    sym('app/conf/up', '../run.sh'),
    hard('app/same.yaml', 'app/conf/a.yaml'),
  ]
  it('get makes the symlinks that stay inside, and hard links to earlier files; modes are 0755 or 0644', async () => {
    const { dest } = await box()
    const outcome = await extractTarStream(source(gzipSync(rawTar(tree))).stream, dest, { policy: ARTIFACT_FILES, gzip: true })
    expect(outcome).toEqual({ links: new Map() })
    expect(await listing(dest)).toEqual(['app/', 'app/conf/', 'app/conf/a.yaml', 'app/conf/up@../run.sh', 'app/current@conf/a.yaml', 'app/run.sh', 'app/same.yaml'])
    expect(await fs.readFile(path.join(dest, 'app/current'), 'utf8')).toBe('a: 1\n')
    expect((await fs.stat(path.join(dest, 'app/same.yaml'))).ino).toBe((await fs.stat(path.join(dest, 'app/conf/a.yaml'))).ino)
    expect((await fs.stat(path.join(dest, 'app/run.sh'))).mode & 0o777).toBe(0o755 & ~process.umask())
    expect((await fs.stat(path.join(dest, 'app/conf/a.yaml'))).mode & 0o777).toBe(0o644 & ~process.umask())
  })

  it('an input archive records the symlinks (by member name, to the member they lead to) and creates none', async () => {
    const { dest } = await box()
    const outcome = await extractTarStream(source(rawTar(tree)).stream, dest, { policy: INPUT_ARCHIVE, gzip: false })
    expect([...outcome.links]).toEqual([
      ['app/current', 'app/conf/a.yaml'],
      ['app/conf/up', 'app/run.sh'],
    ])
    expect(await listing(dest)).toEqual(['app/', 'app/conf/', 'app/conf/a.yaml', 'app/run.sh', 'app/same.yaml'])
  })

  it("an input archive refuses a symlink among a layout's own names; get does not mind the name", async () => {
    const entries = [f('x'), sym('index.json', 'x')]
    const archive = await extractTarStream(source(rawTar(entries)).stream, (await box()).dest, { policy: INPUT_ARCHIVE, gzip: false })
    expect(archive.refused).toContain('a layout holds only regular files')
    const get = await extractTarStream(source(rawTar(entries)).stream, (await box()).dest, { policy: ARTIFACT_FILES, gzip: false })
    expect(get.refused).toBeUndefined()
  })
})

describe('streams that fail', () => {
  it('a source that fails in the middle of a file: unreadable, and extraction ends', async () => {
    const bytes = rawTar([f('big', 'y'.repeat(100_000)), f('after')])
    async function* failing() {
      yield bytes.subarray(0, 30_000)
      throw new Error('the disk went away')
    }
    const outcome = await extractTarStream(failing(), (await box()).dest, { policy: ARTIFACT_FILES, gzip: false })
    expect(String(outcome.unreadable)).toContain('the disk went away')
  })

  it.each([
    ['cut short inside a file', (b: Buffer) => b.subarray(0, 1000), /Truncated/],
    ['gzip cut short', (b: Buffer) => gzipSync(b).subarray(0, 40), /unexpected end of file/],
    ['not tar at all', () => Buffer.alloc(2048, 'not a tar archive '), /Unrecognized archive format|invalid/i],
  ])('%s: unreadable', async (_, damage, message) => {
    const bytes = damage(rawTar([f('a', 'z'.repeat(5000))]))
    const outcome = await extractTarStream(source(bytes).stream, (await box()).dest, { policy: ARTIFACT_FILES, gzip: bytes[0] === 0x1f })
    expect(String(outcome.unreadable)).toMatch(message)
  })

  it('a failure to write is thrown as it is, naming the path (not taken for a bad archive)', async () => {
    const { dest } = await box()
    await fs.writeFile(path.join(dest, 'a'), 'a file where the archive needs a directory')
    const err = await extractTarStream(source(rawTar([f('a/b')])).stream, path.join(dest, 'a'), { policy: ARTIFACT_FILES, gzip: false }).catch((e: unknown) => e)
    expect((err as NodeJS.ErrnoException).code).toMatch(/ENOTDIR|EEXIST/)
    expect((err as Error).message).toContain(path.join(dest, 'a'))
  })

  it('more than maxSize bytes of tar: tooLarge', async () => {
    const bytes = gzipSync(rawTar([f('zeros', Buffer.alloc(300_000).toString())]))
    const outcome = await extractTarStream(source(bytes).stream, (await box()).dest, { policy: INPUT_ARCHIVE, gzip: true, maxSize: 100_000 })
    expect(outcome.tooLarge).toBe(true)
  })
})

describe("get's layer extraction", () => {
  const layerFile = async (bytes: Buffer) => {
    const file = path.join(work, `layer-${n++}`)
    await fs.writeFile(file, bytes)
    return file
  }
  const expected = (bytes: Buffer) => ({ digest: parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`), size: bytes.byteLength, label: 'example.com/app#1 layer' })

  it('an unsafe entry is ARTIFACT_UNSAFE, naming the layer and the entry', async () => {
    const bytes = rawTar([f('../x')])
    const err = await extractTar(await layerFile(bytes), false, (await box()).dest, expected(bytes)).catch((e: unknown) => e)
    expect(isOcisiteError(err) && err.code).toBe('ARTIFACT_UNSAFE')
    expect((err as Error).message).toBe('example.com/app#1 layer: entry "../x" climbs out with ".." and escapes the archive; nothing was written')
  })

  it('bytes that do not match the digest win over the unsafe entry they hold', async () => {
    const bytes = rawTar([f('../x')])
    const want = expected(rawTar([f('fine')]))
    const err = await extractTar(await layerFile(bytes), false, (await box()).dest, { ...want, size: bytes.byteLength })
      .then(() => undefined, (e: unknown) => e)
    expect(isOcisiteError(err) && err.code).toBe('DIGEST_MISMATCH')
  })

  it('a gzip layer is verified against the compressed bytes, and its files written', async () => {
    const bytes = gzipSync(rawTar([f('a/b.txt', 'hello')]))
    const { dest } = await box()
    await extractTar(await layerFile(bytes), true, dest, expected(bytes))
    expect(await fs.readFile(path.join(dest, 'a/b.txt'), 'utf8')).toBe('hello')
    const err = await extractTar(await layerFile(bytes), true, (await box()).dest, { ...expected(bytes), size: bytes.byteLength - 1 }).catch((e: unknown) => e)
    expect(isOcisiteError(err) && err.code).toBe('SIZE_MISMATCH')
  })
})

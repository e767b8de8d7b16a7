// Cached verification: a rebuild trusts files whose stat is unchanged, re-hashes anything that
// changed (counted through --json), replaces a site blob whose bytes were changed underneath it,
// and `--verify` trusts nothing. A rebuild with nothing changed is answered from the memo of the
// last build, and any change at all (input, site or request) brings a full build.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { ocisite } from './helpers/cli.js'
import { image, SBOM_TYPE, tempDir } from './helpers/fixtures.js'
import { digestOf } from '../src/oci/digest.js'
import { MediaType } from '../src/oci/media-types.js'
import { siteProblems } from './helpers/site-check.js'

let work: string
let layouts: string
let layerFile: string
let layerSite: (out: string) => string

/** A build's --json summary. */
async function build(out: string, extra: string[] = []): Promise<{ blobs: { total: number; written: number; skipped: number; hashed: number } }> {
  const r = await ocisite(['build', layouts, '--host', 'example.com', '--out', out, '--json', ...extra])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** Past the verify cache's racy window, so what was just written is trusted next time. */
const settle = () => new Promise((r) => setTimeout(r, 300))

beforeAll(async () => {
  work = await tempDir()
  layouts = path.join(work, 'layouts')
  for (const name of ['one', 'two']) {
    const w = await OciLayout.create(path.join(layouts, name))
    await w.addToIndex(await image(w, 'amd64', `image ${name}`), '1.0')
  }
  const index = JSON.parse(await fs.readFile(path.join(layouts, 'one', 'index.json'), 'utf8'))
  const manifest = JSON.parse(await fs.readFile(path.join(layouts, 'one', 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'))
  const hex = manifest.layers[0].digest.slice(7)
  layerFile = path.join(layouts, 'one', 'blobs', 'sha256', hex)
  layerSite = (out) => path.join(out, 'oci-cas', 'sha256', hex.slice(0, 2), hex)
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

describe('cached verification', () => {
  it('a no-op rebuild hashes nothing; touching one input blob re-hashes exactly that blob', async () => {
    const out = path.join(work, 'touch')
    const first = await build(out)
    expect(first.blobs.hashed).toBeGreaterThanOrEqual(first.blobs.total)
    await settle()
    await build(out) // files written by the first build were too recent to trust: verified now
    await settle()
    const noop = await build(out)
    expect(noop.blobs).toMatchObject({ written: 0, skipped: noop.blobs.total, hashed: 0 })
    const now = new Date()
    await fs.utimes(layerFile, now, now)
    await settle()
    expect((await build(out)).blobs.hashed).toBe(1)
  })

  it('a site blob overwritten with other bytes of the same size is detected and replaced', async () => {
    const out = path.join(work, 'tampered')
    await build(out)
    await settle()
    await build(out)
    await settle()
    const original = await fs.readFile(layerSite(out))
    const tampered = Buffer.from(original)
    tampered[tampered.length - 1]! ^= 0xff
    await fs.writeFile(layerSite(out), tampered)
    expect((await fs.stat(layerSite(out))).size).toBe(original.length)
    const next = await build(out)
    expect(next.blobs.written).toBe(1)
    expect((await fs.readFile(layerSite(out))).equals(original)).toBe(true)
    expect(await siteProblems(out)).toEqual([])
  })

  it('build --verify re-hashes everything', async () => {
    const out = path.join(work, 'verify')
    await build(out)
    await settle()
    await build(out)
    await settle()
    expect((await build(out)).blobs.hashed).toBe(0)
    const verified = await build(out, ['--verify'])
    // Every blob at least once in the site, and its input once more.
    expect(verified.blobs.hashed).toBeGreaterThanOrEqual(2 * verified.blobs.total)
    expect(verified.blobs.written).toBe(0)
  })

  it('a corrupted input blob whose site copy is intact stops the build, naming the blob', async () => {
    const out = path.join(work, 'bad-input')
    await build(out)
    await settle()
    const original = await fs.readFile(layerFile)
    const bad = Buffer.from(original)
    bad[0]! ^= 0xff
    await fs.writeFile(layerFile, bad)
    try {
      const r = await ocisite(['build', layouts, '--host', 'example.com', '--out', out])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('digest mismatch')
      expect(r.stderr).toContain(path.basename(layerFile))
    } finally {
      await fs.writeFile(layerFile, original)
    }
  })
})

describe('the memo of the last build', () => {
  let dir: string
  let out: string
  let one: OciLayout
  let subject: { mediaType: string; digest: string; size: number }
  const memoFile = () => path.join(out, '.ocisite', 'build.json')
  /** The memo file's identity: a build that rewrote or removed it changes it. */
  const memoId = async () => {
    const st = await fs.stat(memoFile(), { bigint: true }).catch(() => undefined)
    return st ? `${st.ino} ${st.ctimeNs}` : undefined
  }
  /** A rebuild, and whether it was answered from the memo (which it then leaves as it was). */
  const rebuild = async (extra: string[] = [], host = 'example.com') => {
    const before = await memoId()
    const r = await ocisite(['build', dir, '--host', host, '--out', out, '--json', ...extra])
    expect(r.code, r.stderr).toBe(0)
    const after = await memoId()
    await settle()
    const result = JSON.parse(r.stdout) as { images: Array<{ path: string; tags: Array<{ tag: string }> }>; blobs: { total: number; written: number; hashed: number }; documents: { written: number } }
    return { ...result, fromMemo: before !== undefined && before === after }
  }
  /** Bring the memo up to date: the first build after a change finds its own files too recent to vouch for. */
  const steady = async () => {
    for (let i = 0; i < 3 && !(await rebuild()).fromMemo; i++);
    expect((await rebuild()).fromMemo, 'an unchanged rebuild is answered from the memo').toBe(true)
  }
  /** A referrer manifest of `subject` (not listed in index.json: only the scan of blobs/ finds it). */
  const referrer = async (text: string) => {
    const config = await one.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
    const layer = await one.putBytes(Buffer.from(text), SBOM_TYPE)
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: SBOM_TYPE, config, layers: [layer], subject }))
  }
  const referrersDoc = () => path.join(out, 'v2', 'one', '_referrers', 'sha256', `${subject.digest.slice(7)}.json`)
  const published = async () => {
    const files = new Map<string, string>()
    const walk = async (rel: string): Promise<void> => {
      for (const e of await fs.readdir(path.join(out, rel), { withFileTypes: true })) {
        const child = path.join(rel, e.name)
        if (e.isDirectory()) {
          if (child !== '.ocisite') await walk(child)
        } else files.set(child, digestOf(await fs.readFile(path.join(out, child))))
      }
    }
    await walk('')
    return files
  }

  beforeAll(async () => {
    dir = path.join(work, 'memo-layouts')
    out = path.join(work, 'memo-site')
    one = await OciLayout.create(path.join(dir, 'one'))
    subject = await one.addToIndex(await image(one, 'amd64', 'memo one'), '1.0')
    const two = await OciLayout.create(path.join(dir, 'two'))
    await two.addToIndex(await image(two, 'arm64', 'memo two'), '1.0')
    await rebuild()
    await steady()
  })

  it('an unchanged rebuild is answered from the memo, with the same result and the site untouched', async () => {
    const before = await published()
    const full = await rebuild(['--verify']) // --verify never uses the memo: the full path, for comparison
    expect(full.fromMemo).toBe(false)
    await steady()
    const fromMemo = await rebuild()
    expect(fromMemo.fromMemo).toBe(true)
    expect(fromMemo.images).toEqual(full.images)
    expect(fromMemo.blobs).toMatchObject({ total: full.blobs.total, written: 0, hashed: 0 })
    expect(fromMemo.documents.written).toBe(0)
    expect(await published()).toEqual(before)
  })

  it('a new tag in an input\'s index.json is published', async () => {
    const [entry] = await one.readIndex()
    await one.addToIndex({ mediaType: entry!.mediaType, digest: entry!.digest, size: entry!.size }, '2.0')
    const r = await rebuild()
    expect(r.fromMemo).toBe(false)
    expect(r.images.find((i) => i.path === 'one')!.tags.map((t) => t.tag)).toEqual(['1.0', '2.0'])
    await steady()
  })

  it('a referrer added to an input\'s blobs (not to index.json) is published', async () => {
    const bytes = await referrer('added later')
    await one.putBytes(bytes, MediaType.ociManifest)
    const r = await rebuild()
    expect(r.fromMemo).toBe(false)
    expect(await fs.readFile(referrersDoc(), 'utf8')).toContain(digestOf(bytes))
    await steady()
  })

  it('a damaged blob file the referrer scan passed over, mended in place, is then published', async () => {
    const bytes = await referrer('mended in place')
    const file = one.paths.blob({ algorithm: 'sha256', encoded: digestOf(bytes).slice(7), value: digestOf(bytes) } as never)
    const damaged = Buffer.from(bytes)
    damaged[damaged.length - 2]! ^= 0x01
    await fs.writeFile(file, damaged)
    expect((await rebuild()).fromMemo).toBe(false) // the blob directory changed
    await steady()
    expect(await fs.readFile(referrersDoc(), 'utf8')).not.toContain(digestOf(bytes))
    // Same file, same size, same directory: only the file's own stamp shows the change.
    await fs.writeFile(file, bytes)
    const r = await rebuild()
    expect(r.fromMemo).toBe(false)
    expect(await fs.readFile(referrersDoc(), 'utf8')).toContain(digestOf(bytes))
    await steady()
  })

  it('a site document changed in place (same size) or removed is restored', async () => {
    const doc = path.join(out, 'oci-index', 'one')
    const original = await fs.readFile(doc)
    const changed = Buffer.from(original)
    changed[changed.length - 2]! ^= 0x01
    await fs.writeFile(doc, changed)
    expect((await rebuild()).fromMemo).toBe(false)
    expect((await fs.readFile(doc)).equals(original)).toBe(true)
    await steady()
    await fs.rm(doc)
    expect((await rebuild()).fromMemo).toBe(false)
    expect((await fs.readFile(doc)).equals(original)).toBe(true)
    expect(await siteProblems(out)).toEqual([])
    await steady()
  })

  it('a touched index.json, another host or base URL, or a lost verify cache each bring a full build', async () => {
    await fs.utimes(path.join(dir, 'two', 'index.json'), new Date(), new Date())
    expect((await rebuild()).fromMemo).toBe(false)
    await steady()
    expect((await rebuild([], 'other.example.com')).fromMemo).toBe(false)
    const based = await rebuild(['--base-url', 'https://cdn.example.com'])
    expect(based.fromMemo).toBe(false)
    expect(based.documents.written).toBeGreaterThan(0)
    expect((await rebuild()).fromMemo).toBe(false)
    await steady()
    await fs.rm(path.join(out, '.ocisite', 'verified.json'))
    const rehashed = await rebuild()
    expect(rehashed.fromMemo).toBe(false)
    expect(rehashed.blobs.hashed).toBeGreaterThan(0)
    await steady()
  })

  it('every write to the site removes the memo first; a failed build leaves none', async () => {
    const index = await fs.readFile(one.paths.indexJson)
    await fs.writeFile(one.paths.indexJson, '{"manifests": 3}')
    try {
      const r = await ocisite(['build', dir, '--host', 'example.com', '--out', out])
      expect(r.code).toBe(2)
      await expect(fs.stat(memoFile())).rejects.toThrow()
    } finally {
      await fs.writeFile(one.paths.indexJson, index)
    }
    await steady()
  })
})

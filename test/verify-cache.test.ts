// Cached verification: a rebuild trusts files whose stat is unchanged, re-hashes anything that
// changed (counted through --json), replaces a site blob whose bytes were changed underneath it,
// and `--verify` trusts nothing.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayoutWriter } from '../src/oci/layout-writer.js'
import { ocisite } from './helpers/cli.js'
import { image, tempDir } from './helpers/fixtures.js'
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
    const w = await LayoutWriter.create(path.join(layouts, name))
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

import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import * as tar from 'tar'
import { beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { goodSite, ocisite } from './helpers/cli.js'
import { image } from './helpers/fixtures.js'
import { snapshot } from './helpers/tree.js'

let work: string
let site: string
let good: string
let previous: Map<string, string>

/** A fresh valid layout `name` with one new image (distinct from the site's) tagged 'bad'. */
async function freshLayout(name: string): Promise<{ dir: string; layer: string; manifest: string; config: string }> {
  const dir = path.join(work, name)
  const w = await OciLayout.create(dir)
  const m = await image(w, 'amd64', `content of ${name}`)
  await w.addToIndex(m, 'bad')
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'blobs/sha256', m.digest.slice(7)), 'utf8'))
  return { dir, layer: path.join(dir, 'blobs/sha256', manifest.layers[0].digest.slice(7)), manifest: path.join(dir, 'blobs/sha256', m.digest.slice(7)), config: manifest.config.digest }
}

beforeAll(async () => {
  ;({ work, good, site } = await goodSite())
  previous = await snapshot(site)
})

async function expectRejected(args: string[], code: string, fragments: string[]): Promise<void> {
  const run = await ocisite(['build', good, ...args, '--host', 'example.com', '--out', site])
  expect(run.code, run.stderr).toBe(2)
  const lines = run.stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toContain(`error[${code}]`)
  for (const f of fragments) expect(lines[0]).toContain(f)
  // The previous site is untouched, and no temporary file is left anywhere in it.
  expect(await snapshot(site)).toEqual(previous)
  expect(execFileSync('find', [site, '-name', '.ocisite-tmp-*'], { encoding: 'utf8' })).toBe('')
}

describe('bad input is rejected with one clear line, and the previous site is kept', () => {
  it('a missing oci-layout', async () => {
    const l = await freshLayout('no-marker')
    await fs.rm(path.join(l.dir, 'oci-layout'))
    // Not a layout any more, so the directory is searched and nothing is found.
    await expectRejected([l.dir], 'NOTHING_TO_PUBLISH', ['no-marker', 'not an OCI layout'])
  })

  it('a missing index.json', async () => {
    const l = await freshLayout('no-index')
    await fs.rm(path.join(l.dir, 'index.json'))
    await expectRejected([l.dir], 'LAYOUT_INVALID', ['no-index', 'index.json is missing'])
  })

  it('invalid JSON in index.json', async () => {
    const l = await freshLayout('bad-json')
    await fs.writeFile(path.join(l.dir, 'index.json'), '{"manifests": [')
    await expectRejected([l.dir], 'JSON_INVALID', [path.join('bad-json', 'index.json'), 'invalid JSON'])
  })

  it('invalid JSON in a manifest blob', async () => {
    const l = await freshLayout('bad-manifest')
    const bytes = await fs.readFile(l.manifest)
    bytes[0] = 0x5b // '[': same size, so the digest check catches it first
    await fs.writeFile(l.manifest, bytes)
    await expectRejected([l.dir], 'DIGEST_MISMATCH', [path.basename(l.manifest)])
  })

  it('a missing blob', async () => {
    const l = await freshLayout('missing-blob')
    await fs.rm(l.layer)
    await expectRejected([l.dir], 'BLOB_MISSING', [`sha256:${path.basename(l.layer)}`, 'missing'])
  })

  it('a blob whose size does not match', async () => {
    const l = await freshLayout('size')
    await fs.appendFile(l.layer, 'x')
    await expectRejected([l.dir], 'SIZE_MISMATCH', [`sha256:${path.basename(l.layer)}`])
  })

  it('a blob whose digest does not match (found while copying; blobs already written are removed)', async () => {
    const l = await freshLayout('digest')
    const bytes = await fs.readFile(l.layer)
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await fs.writeFile(l.layer, bytes)
    await expectRejected([l.dir], 'DIGEST_MISMATCH', [`sha256:${path.basename(l.layer)}`, 'has digest sha256:'])
  })

  it('a symlink where a blob should be', async () => {
    const l = await freshLayout('symlink')
    const target = path.join(work, 'elsewhere')
    await fs.copyFile(l.layer, target)
    await fs.rm(l.layer)
    await fs.symlink(target, l.layer)
    await expectRejected([l.dir], 'BLOB_NOT_REGULAR', [`sha256:${path.basename(l.layer)}`, 'symlink'])
  })

  it('a directory where a blob should be', async () => {
    const l = await freshLayout('fifo')
    await fs.rm(l.layer)
    await fs.mkdir(l.layer)
    await expectRejected([l.dir], 'BLOB_NOT_REGULAR', [`sha256:${path.basename(l.layer)}`, 'non-regular'])
  })

  it('a tar entry that climbs out with ..', async () => {
    const l = await freshLayout('climb')
    const archive = path.join(work, 'climb.tar')
    await fs.writeFile(path.join(work, 'outside.txt'), 'x')
    execFileSync('tar', ['-cf', archive, '-C', l.dir, 'oci-layout', 'index.json', 'blobs', '-C', work, '--transform', 's,^outside.txt,../escape.txt,', 'outside.txt'])
    await expectRejected([archive], 'ARCHIVE_UNSAFE', ['climb.tar', '../escape.txt', 'escapes'])
    await expect(fs.stat(path.join(path.dirname(work), 'escape.txt'))).rejects.toThrow()
  })

  it('a tar entry that is a link out of the archive', async () => {
    const l = await freshLayout('link')
    const archive = path.join(work, 'link.tgz')
    await fs.symlink('/etc/passwd', path.join(l.dir, 'blobs', 'passwd'))
    await tar.c({ file: archive, cwd: l.dir, gzip: true }, ['oci-layout', 'index.json', 'blobs'])
    await expectRejected([archive], 'ARCHIVE_UNSAFE', ['link.tgz', 'blobs/passwd', 'symlink'])
  })

  it('a malformed digest', async () => {
    const l = await freshLayout('malformed')
    const index = JSON.parse(await fs.readFile(path.join(l.dir, 'index.json'), 'utf8'))
    index.manifests[0].digest = 'sha256:XYZ'
    await fs.writeFile(path.join(l.dir, 'index.json'), JSON.stringify(index))
    await expectRejected([l.dir], 'DIGEST_INVALID', ['malformed', 'sha256:XYZ'])
  })

  it.each([
    ['..', 'TAG_INVALID', '".."', 'dots'],
    ['.hidden', 'TAG_INVALID', '".hidden"', 'hidden'],
    ['a/b/', 'TAG_INVALID', '"a/b/"', 'slashes'],
  ])('a tag that is not a safe path segment: %s', async (tag, code, shown, name) => {
    const l = await freshLayout(`tag-${name}`)
    const index = JSON.parse(await fs.readFile(path.join(l.dir, 'index.json'), 'utf8'))
    index.manifests[0].annotations['org.opencontainers.image.ref.name'] = tag
    await fs.writeFile(path.join(l.dir, 'index.json'), JSON.stringify(index))
    await expectRejected([l.dir], code, [shown])
  })

  it.each([['../up'], ['a//b'], ['Upper/case']])('an image path that is not safe: %s', async (bad) => {
    const dir = path.join(work, `cfg-${bad.replace(/\W/g, '_')}`)
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: 'example.com', out: site, images: [{ path: bad, from: good }] }))
    const run = await ocisite(['build'], { cwd: dir })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('error[PATH_INVALID]')
    expect(run.stderr).toContain(`"${bad}"`)
    expect(await snapshot(site)).toEqual(previous)
  })

  it('the same path and tag from two inputs with different digests', async () => {
    const other = path.join(work, 'conflict', 'good')
    const w = await OciLayout.create(other)
    await w.addToIndex(await image(w, 'amd64', 'different'), '1.0')
    await expectRejected([other], 'TAG_CONFLICT', ['good:1.0', 'sha256:'])
  })

  it('an unknown input path', async () => {
    await expectRejected([path.join(work, 'nope')], 'INPUT_NOT_FOUND', ['nope'])
  })
})

// Hostile input for `build`: broken layouts and archives, bad options, and --out directories
// that a careless operator points at. Every case must exit 2 with one line naming what is at
// fault, keep the previous site byte for byte, and touch nothing outside --out (symlinks
// included): the whole scratch tree is compared before and after.
import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as tar from 'tar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { goodSite, ocisite } from './helpers/cli.js'
import { image } from './helpers/fixtures.js'
import { snapshot } from './helpers/tree.js'

let work: string
let site: string
let outside: string

beforeAll(async () => {
  ;({ work, site } = await goodSite())
  // Bystander files that a symlink inside a site or input could lead to.
  outside = path.join(work, 'outside')
  await fs.mkdir(path.join(outside, 'sha256'), { recursive: true })
  await fs.writeFile(path.join(outside, 'precious.txt'), 'keep me\n')
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

/** Paths inside one case's scratch directory. */
interface Ctx {
  dir: string
  /** A fresh valid layout (one image tagged `bad`) at `dir/<name>`, with helpers to break it. */
  layout(name?: string): Promise<Layout>
}
interface Layout {
  dir: string
  index: string
  manifest: string
  layer: string
  config: string
  blob(digestOrHex: string): string
  editIndex(fn: (doc: any) => void): Promise<void>
}

async function makeLayout(dir: string): Promise<Layout> {
  const w = await OciLayout.create(dir)
  const m = await image(w, 'amd64', `content of ${dir}`)
  await w.addToIndex(m, 'bad')
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, ''))
  const body = JSON.parse(await fs.readFile(blob(m.digest), 'utf8'))
  return {
    dir,
    index: path.join(dir, 'index.json'),
    manifest: blob(m.digest),
    layer: blob(body.layers[0].digest),
    config: blob(body.config.digest),
    blob,
    editIndex: async (fn) => {
      const doc = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
      fn(doc)
      await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(doc))
    },
  }
}

/** Tar up a layout directory (optionally with extra raw entries) into `file`. */
async function tarOf(dir: string, file: string, gzip = false): Promise<string> {
  await tar.c({ cwd: dir, file, gzip, portable: true }, ['.'])
  return file
}

type Case = [name: string, code: string, message: string | RegExp, args: (c: Ctx) => Promise<string[]>]

const into = (inputs: string[], extra: string[] = []) => [...inputs, '--host', 'example.com', '--out', site, ...extra]
const broken = (fn: (l: Layout, c: Ctx) => Promise<void>) => async (c: Ctx) => {
  const l = await c.layout()
  await fn(l, c)
  return into([l.dir])
}
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)

const cases: Case[] = [
  // Layout files
  ['a missing oci-layout', 'NOTHING_TO_PUBLISH', 'not an OCI layout', broken((l) => fs.rm(path.join(l.dir, 'oci-layout')))],
  ['a missing index.json', 'LAYOUT_INVALID', 'index.json is missing', broken((l) => fs.rm(l.index))],
  ['index.json that is not JSON', 'JSON_INVALID', 'invalid JSON', broken((l) => fs.writeFile(l.index, '{"manifests": ['))],
  ['index.json that is an array', 'JSON_INVALID', 'not an object', broken((l) => fs.writeFile(l.index, '[]'))],
  ['index.json without manifests', 'LAYOUT_INVALID', '"manifests" is not an array', broken((l) => fs.writeFile(l.index, '{"schemaVersion":2}'))],
  ['index.json with manifests null, given directly', 'LAYOUT_INVALID', '"manifests" is not an array', broken((l) => fs.writeFile(l.index, '{"schemaVersion":2,"manifests":null}'))],
  ['index.json over 4 MiB', 'JSON_INVALID', 'over the 4194304-byte limit', broken((l) => fs.writeFile(l.index, `{"manifests":[],"x":"${'a'.repeat(4 * 1024 * 1024)}"}`))],
  ['an annotation nested 100,000 deep', 'JSON_INVALID', 'nested deeper than 100 levels', broken((l) => l.editIndex((d) => (d.annotations = { deep: '__DEEP__' })).then(async () => fs.writeFile(l.index, (await fs.readFile(l.index, 'utf8')).replace('"__DEEP__"', deep(100_000)))))],
  ['an oci-layout version 9.9.9', 'LAYOUT_INVALID', 'imageLayoutVersion "9.9.9" is not 1.x', broken((l) => fs.writeFile(path.join(l.dir, 'oci-layout'), '{"imageLayoutVersion":"9.9.9"}'))],
  ['an oci-layout without a version', 'LAYOUT_INVALID', 'imageLayoutVersion is missing', broken((l) => fs.writeFile(path.join(l.dir, 'oci-layout'), '{}'))],
  ['an oci-layout that is not JSON', 'JSON_INVALID', 'invalid JSON', broken((l) => fs.writeFile(path.join(l.dir, 'oci-layout'), 'version 1'))],
  ['an oci-layout that is a symlink', 'LAYOUT_INVALID', 'not a regular file', broken(async (l) => { await fs.rm(path.join(l.dir, 'oci-layout')); await fs.symlink(path.join(outside, 'precious.txt'), path.join(l.dir, 'oci-layout')) })],
  // Descriptors
  ['a descriptor that is not an object', 'LAYOUT_INVALID', 'descriptor is not an object', broken((l) => l.editIndex((d) => d.manifests.push('sha256:abc')))],
  ['a malformed digest', 'DIGEST_INVALID', 'malformed digest', broken((l) => l.editIndex((d) => (d.manifests[0].digest = 'sha256:xyz')))],
  ['an unknown digest algorithm', 'DIGEST_INVALID', 'md5', broken((l) => l.editIndex((d) => (d.manifests[0].digest = `md5:${'a'.repeat(32)}`)))],
  ['a sha512 digest of the wrong length', 'DIGEST_INVALID', 'sha512', broken((l) => l.editIndex((d) => (d.manifests[0].digest = `sha512:${'a'.repeat(64)}`)))],
  ['a negative size', 'LAYOUT_INVALID', 'invalid size', broken((l) => l.editIndex((d) => (d.manifests[0].size = -1)))],
  ['a fractional size', 'LAYOUT_INVALID', 'invalid size', broken((l) => l.editIndex((d) => (d.manifests[0].size = 1.5)))],
  ['a size given as a string', 'LAYOUT_INVALID', 'invalid size', broken((l) => l.editIndex((d) => (d.manifests[0].size = '397')))],
  ['a non-string mediaType', 'LAYOUT_INVALID', 'non-string mediaType', broken((l) => l.editIndex((d) => (d.manifests[0].mediaType = 7)))],
  ['annotations that are an array', 'LAYOUT_INVALID', 'invalid annotations', broken((l) => l.editIndex((d) => (d.manifests[0].annotations = ['bad'])))],
  ['a size that disagrees with the manifest file', 'SIZE_MISMATCH', 'but its descriptor says', broken((l) => l.editIndex((d) => (d.manifests[0].size += 1)))],
  // Tags and names
  ['a ref name that climbs (../../../etc/cron.d/evil)', 'TAG_INVALID', '"../../../etc/cron.d/evil"', broken((l) => l.editIndex((d) => (d.manifests[0].annotations['org.opencontainers.image.ref.name'] = '../../../etc/cron.d/evil')))],
  ['a ref name with a slash and no tag (foo/bar)', 'TAG_INVALID', '"foo/bar"', broken((l) => l.editIndex((d) => (d.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'foo/bar')))],
  ['a tag of 129 characters', 'TAG_INVALID', 'x'.repeat(129), broken((l) => l.editIndex((d) => (d.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'x'.repeat(129))))],
  ['a tag ..', 'TAG_INVALID', '".."', broken((l) => l.editIndex((d) => (d.manifests[0].annotations['org.opencontainers.image.ref.name'] = '..')))],
  ['a tag with a space', 'TAG_INVALID', '"a b"', broken((l) => l.editIndex((d) => (d.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'a b')))],
  ['the same path and tag with two digests', 'TAG_CONFLICT', 'comes from', async (c) => {
    const a = await makeLayout(path.join(c.dir, 'one', 'app'))
    const b = await makeLayout(path.join(c.dir, 'two', 'app'))
    return into([a.dir, b.dir])
  }],
  ['image paths that are prefixes of each other', 'PATH_CONFLICT', 'collide', async (c) => {
    await makeLayout(path.join(c.dir, 'one', 'org'))
    await makeLayout(path.join(c.dir, 'two', 'org', 'app'))
    return into([path.join(c.dir, 'one'), path.join(c.dir, 'two')])
  }],
  ['an unknown input path', 'INPUT_NOT_FOUND', 'no such file or directory', async (c) => into([path.join(c.dir, 'nope')])],
  ['a directory with no layouts in it', 'NOTHING_TO_PUBLISH', 'no layouts or archives', async (c) => {
    await fs.mkdir(path.join(c.dir, 'empty'))
    return into([path.join(c.dir, 'empty')])
  }],
  ['tag filters that match nothing', 'NOTHING_TO_PUBLISH', 'no tags to publish', async (c) => into([(await c.layout()).dir], ['--tags', 'v9*'])],
  // Blobs
  ['a missing layer', 'BLOB_MISSING', 'is missing', broken((l) => fs.rm(l.layer))],
  ['a missing manifest', 'BLOB_MISSING', 'is missing', broken((l) => fs.rm(l.manifest))],
  ['a missing config', 'BLOB_MISSING', 'is missing', broken((l) => fs.rm(l.config))],
  ['a layer that is longer than its descriptor', 'SIZE_MISMATCH', 'but its descriptor says', broken((l) => fs.appendFile(l.layer, 'x'))],
  ['a layer with one byte changed', 'DIGEST_MISMATCH', 'digest mismatch', broken(async (l) => { const b = await fs.readFile(l.layer); b[b.length - 1]! ^= 1; await fs.writeFile(l.layer, b) })],
  ['a manifest that is not JSON (digest matching)', 'JSON_INVALID', 'invalid JSON', broken(async (l) => {
    const bytes = Buffer.from('not json at all')
    const hex = execFileSync('sha256sum', { input: bytes }).toString().slice(0, 64)
    await fs.writeFile(l.blob(hex), bytes)
    await l.editIndex((d) => (d.manifests[0] = { ...d.manifests[0], digest: `sha256:${hex}`, size: bytes.length }))
  })],
  ['a manifest whose config has no digest', 'DIGEST_INVALID', /digest/, broken(async (l) => {
    const body = JSON.parse(await fs.readFile(l.manifest, 'utf8'))
    delete body.config.digest
    const bytes = Buffer.from(JSON.stringify(body))
    const hex = execFileSync('sha256sum', { input: bytes }).toString().slice(0, 64)
    await fs.writeFile(l.blob(hex), bytes)
    await l.editIndex((d) => (d.manifests[0] = { ...d.manifests[0], digest: `sha256:${hex}`, size: bytes.length }))
  })],
  ['a symlink where a blob should be', 'BLOB_NOT_REGULAR', 'symlink', broken(async (l) => { await fs.rm(l.layer); await fs.symlink(path.join(outside, 'precious.txt'), l.layer) })],
  ['a directory where a blob should be', 'BLOB_NOT_REGULAR', 'non-regular', broken(async (l) => { await fs.rm(l.layer); await fs.mkdir(l.layer) })],
  ['a FIFO where a blob should be', 'BLOB_NOT_REGULAR', 'non-regular', broken(async (l) => { await fs.rm(l.layer); execFileSync('mkfifo', [l.layer]) })],
  ['blobs/sha256 linked to a directory outside', 'BLOB_NOT_REGULAR', 'outside the layout', broken(async (l) => {
    for (const f of await fs.readdir(path.join(l.dir, 'blobs', 'sha256'))) await fs.copyFile(path.join(l.dir, 'blobs', 'sha256', f), path.join(outside, 'sha256', f))
    await fs.rm(path.join(l.dir, 'blobs', 'sha256'), { recursive: true })
    await fs.symlink(path.join(outside, 'sha256'), path.join(l.dir, 'blobs', 'sha256'))
  })],
  // Archives
  ['a tar entry that climbs out with ..', 'ARCHIVE_UNSAFE', 'escapes the archive', async (c) => {
    const l = await c.layout('evil-src')
    const file = path.join(c.dir, 'evil.tar')
    await tar.c({ cwd: l.dir, file, portable: true, onWriteEntry: (e: any) => { if (e.path === 'index.json') e.path = '../../index.json' } } as any, ['oci-layout', 'index.json'])
    return into([file])
  }],
  ['a tar entry with an absolute path', 'ARCHIVE_UNSAFE', 'escapes the archive', async (c) => {
    const l = await c.layout('abs-src')
    const file = path.join(c.dir, 'abs.tar')
    await tar.c({ cwd: l.dir, file, portable: true, preservePaths: true, onWriteEntry: (e: any) => { if (e.path === 'index.json') e.path = '/tmp/ocisite-evil-index.json' } } as any, ['oci-layout', 'index.json'])
    return into([file])
  }],
  ['a tar entry that is a symlink', 'ARCHIVE_UNSAFE', 'is a symlink', async (c) => {
    const l = await c.layout('link-src')
    await fs.symlink('/etc/passwd', path.join(l.dir, 'passwd'))
    return into([await tarOf(l.dir, path.join(c.dir, 'link.tar'))])
  }],
  ['a tar entry that hard-links out of the archive', 'ARCHIVE_UNSAFE', 'hard link out of the archive', async (c) => {
    const l = await c.layout('hard-src')
    await fs.link(path.join(l.dir, 'oci-layout'), path.join(l.dir, 'second'))
    const file = path.join(c.dir, 'hard.tar')
    await tar.c({ cwd: l.dir, file, portable: true, onWriteEntry: (e: any) => { if (e.type === 'Link') e.linkpath = '../../etc/passwd' } } as any, ['.'])
    return into([file])
  }],
  ['a tar entry that is a device', 'ARCHIVE_UNSAFE', 'CharacterDevice', async (c) => {
    const l = await c.layout('dev-src')
    const file = path.join(c.dir, 'dev.tar')
    await tarOf(l.dir, file)
    // GNU tar packs a device node (node-tar will not); then the layout is appended to it.
    const both = path.join(c.dir, 'both.tar')
    execFileSync('tar', ['-cf', both, '-C', '/dev', 'null'])
    execFileSync('tar', ['-Af', both, file])
    return into([both])
  }],
  ['a corrupt .tar.gz', 'LAYOUT_INVALID', 'cannot read archive', async (c) => {
    const file = await tarOf((await c.layout('gz-src')).dir, path.join(c.dir, 'corrupt.tar.gz'), true)
    const b = await fs.readFile(file)
    await fs.writeFile(file, b.subarray(0, b.length >> 1))
    return into([file])
  }],
  ['a truncated .tar', 'LAYOUT_INVALID', /cannot read archive|missing|invalid/, async (c) => {
    const file = await tarOf((await c.layout('trunc-src')).dir, path.join(c.dir, 'trunc.tar'))
    const b = await fs.readFile(file)
    await fs.writeFile(file, b.subarray(0, 700))
    return into([file])
  }],
  ['an empty .tar file', 'LAYOUT_INVALID', /oci-layout is missing|cannot read archive/, async (c) => {
    await fs.writeFile(path.join(c.dir, 'empty.tar'), '')
    return into([path.join(c.dir, 'empty.tar')])
  }],
  ['an archive past --max-archive-size', 'TOO_LARGE', '--max-archive-size', async (c) => {
    const l = await c.layout('big-src')
    await fs.writeFile(path.join(l.dir, 'padding'), Buffer.alloc(2 * 1024 * 1024))
    return into([await tarOf(l.dir, path.join(c.dir, 'big.tar.gz'), true)], ['--max-archive-size', '1M'])
  }],
  ['an archive holding no layout', 'LAYOUT_INVALID', 'oci-layout is missing', async (c) => {
    await fs.mkdir(path.join(c.dir, 'plain'))
    await fs.writeFile(path.join(c.dir, 'plain', 'readme.txt'), 'hello')
    return into([await tarOf(path.join(c.dir, 'plain'), path.join(c.dir, 'plain.tar'))])
  }],
  // Options
  ['an empty --host', 'CONFIG_INVALID', '--host is empty', async (c) => [(await c.layout()).dir, '--host', '', '--out', site]],
  ['a --host with a port', 'NAME_INVALID', 'has a port', async (c) => [(await c.layout()).dir, '--host', 'example.com:8443', '--out', site]],
  ['a numeric --host', 'NAME_INVALID', 'neither a DNS name nor an IP address', async (c) => [(await c.layout()).dir, '--host', '1.2.3', '--out', site]],
  ['a --host with an underscore label', 'NAME_INVALID', 'invalid label', async (c) => [(await c.layout()).dir, '--host', 'bad_label.example', '--out', site]],
  ['a --base-url that is not http(s)', 'CONFIG_INVALID', 'must be http or https', async (c) => into([(await c.layout()).dir], ['--base-url', 'ftp://example.com'])],
  ['an --nginx file inside --out', 'CONFIG_INVALID', 'inside the served tree', async (c) => into([(await c.layout()).dir], ['--nginx', path.join(site, 'site.conf')])],
  ['a --max-archive-size that is not a size', 'CONFIG_INVALID', 'use a size such as', async (c) => into([(await c.layout()).dir], ['--max-archive-size', 'lots'])],
  ['a --listen nginx cannot take', 'CONFIG_INVALID', 'use PORT, ADDRESS:PORT', async (c) => into([(await c.layout()).dir], ['--nginx', path.join(c.dir, 'x.conf'), '--listen', 'not a port'])],
  ['a config file with a misspelt key', 'CONFIG_INVALID', 'unknown key "output"', async (c) => {
    await fs.writeFile(path.join(c.dir, 'ocisite.json'), JSON.stringify({ host: 'example.com', output: 'public' }))
    return ['--config', path.join(c.dir, 'ocisite.json'), (await c.layout()).dir, '--out', site]
  }],
  // --out
  ['--out /', 'OUT_UNSAFE', 'file system root', async (c) => [(await c.layout()).dir, '--host', 'example.com', '--out', '/']],
  ['--out a home directory', 'OUT_UNSAFE', 'home directory', async (c) => [(await c.layout()).dir, '--host', 'example.com', '--out', os.homedir()]],
  ['--out inside the input layout', 'OUT_UNSAFE', 'lies inside the input', async (c) => {
    const l = await c.layout()
    return [l.dir, '--host', 'example.com', '--out', path.join(l.dir, 'site')]
  }],
  ['--out containing the input (build L/v2/app --out L)', 'OUT_UNSAFE', 'contains the input', async (c) => {
    const l = await makeLayout(path.join(c.dir, 'L', 'v2', 'app'))
    return [l.dir, '--host', 'example.com', '--out', path.join(c.dir, 'L')]
  }],
  ['--out a non-empty directory that is not a site (v2/README kept)', 'OUT_UNSAFE', 'pass --force', async (c) => {
    const out = path.join(c.dir, 'userdir')
    for (const [f, text] of [['v2/README', 'mine'], ['oci-cas/README', 'mine'], ['oci-index/readme.txt', 'mine']]) {
      await fs.mkdir(path.dirname(path.join(out, f!)), { recursive: true })
      await fs.writeFile(path.join(out, f!), text!)
    }
    return [(await c.layout()).dir, '--host', 'example.com', '--out', out]
  }],
  ['--out a file', 'OUT_UNSAFE', 'not a directory', async (c) => {
    await fs.writeFile(path.join(c.dir, 'afile'), 'x')
    return [(await c.layout()).dir, '--host', 'example.com', '--out', path.join(c.dir, 'afile')]
  }],
  ['a site whose oci-index is a symlink to a directory outside', 'PATH_INVALID', 'is a symlink', async (c) => siteWithLink(c, 'oci-index')],
  ['a site whose oci-cas is a symlink to a directory outside', 'PATH_INVALID', 'is a symlink', async (c) => siteWithLink(c, 'oci-cas')],
  ['a site whose v2/<path> is a symlink to a directory outside', 'PATH_INVALID', 'is a symlink', async (c) => siteWithLink(c, 'v2/app')],
  ['a site whose oci-cas/sha256/<xx> is a symlink to a directory outside', 'PATH_INVALID', 'is a symlink', async (c) => siteWithLink(c, 'shard')],
  ['a site whose record of owned files is corrupt', 'STATE_INVALID', 'not a record of owned files', async (c) => {
    const s = await ownSite(c)
    await fs.writeFile(path.join(s.out, '.ocisite', 'owned.json'), '{"files": 3}')
    return s.args
  }],
]

/** A site of its own (built from one layout `app`), for cases that break the site itself. */
async function ownSite(c: Ctx): Promise<{ out: string; args: string[] }> {
  const l = await makeLayout(path.join(c.dir, 'in', 'app'))
  const out = path.join(c.dir, 'own-site')
  const args = [l.dir, '--host', 'example.com', '--out', out]
  const r = await ocisite(['build', ...args])
  expect(r.code, r.stderr).toBe(0)
  // Change the input so that a rebuild would write and prune.
  const w = await OciLayout.create(l.dir)
  await w.addToIndex(await image(w, 'amd64', 'a second image'), 'second')
  return { out, args }
}

/** An own site with one of its directories replaced by a symlink to a bystander directory. */
async function siteWithLink(c: Ctx, which: 'oci-index' | 'oci-cas' | 'v2/app' | 'shard'): Promise<string[]> {
  const s = await ownSite(c)
  let rel: string = which
  if (which === 'shard') rel = `oci-cas/sha256/${(await fs.readdir(path.join(s.out, 'oci-cas', 'sha256')))[0]!}`
  const target = path.join(c.dir, 'bystander')
  await fs.cp(path.join(s.out, rel), target, { recursive: true })
  await fs.writeFile(path.join(target, 'precious.txt'), 'keep me\n')
  await fs.rm(path.join(s.out, rel), { recursive: true })
  await fs.symlink(target, path.join(s.out, rel))
  return s.args
}

describe('hostile build input: exit 2, one line, the site and everything outside --out unchanged', () => {
  it('has at least 60 cases', () => expect(cases.length).toBeGreaterThanOrEqual(60))

  it.each(cases)('%s', async (name, code, message, args) => {
    const dir = path.join(work, 'cases', name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60))
    await fs.mkdir(dir, { recursive: true })
    const argv = await args({ dir, layout: (n = 'app') => makeLayout(path.join(dir, n)) })
    const before = await snapshot(work)
    const run = await ocisite(['build', ...argv])
    expect(run.code, run.stderr).toBe(2)
    const lines = run.stderr.trim().split('\n')
    expect(lines, run.stderr).toHaveLength(1)
    expect(lines[0]).toContain(`error[${code}]`)
    if (typeof message === 'string') expect(lines[0]).toContain(message)
    else expect(lines[0]).toMatch(message)
    // Nothing created, changed or deleted anywhere in the scratch tree: the shared site, the
    // case's own site and inputs, and the bystander files that symlinks point at.
    expect(await snapshot(work)).toEqual(before)
    await expect(fs.stat('/tmp/ocisite-evil-index.json')).rejects.toThrow()
  })
})

// Files as OCI artifacts, both ends: `pack` makes them (the seeds' formats: a ReadyStackGo stack,
// a doco-cd deploy directory, an NVIDIA AICR bundle), a site built from them is served by
// Debian's nginx, and `get` writes the files back out, safely, through a digest-keyed cache.
// skopeo, containerd and umoci read what pack made.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { MediaType } from '../src/oci/media-types.js'
import { ocisite } from './helpers/cli.js'
import { skopeo, startContainerd } from './helpers/clients.js'
import { tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { rawTar } from './helpers/raw-tar.js'
import { snapshot } from './helpers/tree.js'

const run = promisify(execFile)
const EPOCH = '1700000000'

let work: string
let src: { stack: string; doco: string; aicr: string }
let layouts: string
let site: string
let nginx: RunningNginx
let port: number
let cache: string

const http = () => ['--protocol', 'http', '--port', String(port)]
const env = (extra: Record<string, string> = {}) => ({ XDG_CACHE_HOME: cache, SOURCE_DATE_EPOCH: EPOCH, ...extra })

/** A tree as files: content hash, execute bit, or symlink target. */
async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (rel: string) => {
    for (const e of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(rel, e.name)
      const abs = path.join(dir, p)
      if (e.isDirectory()) {
        out[`${p}/`] = 'dir'
        await walk(p)
      } else if (e.isSymbolicLink()) out[p] = `-> ${await fs.readlink(abs)}`
      else out[p] = `${createHash('sha256').update(await fs.readFile(abs)).digest('hex')} ${(await fs.stat(abs)).mode & 0o100 ? 'x' : '-'}`
    }
  }
  await walk('')
  return out
}

async function makeSources(root: string) {
  const stack = path.join(root, 'stack')
  await fs.mkdir(stack, { recursive: true })
  await fs.writeFile(path.join(stack, 'stack.yaml'), 'name: web\nservices:\n  web:\n    image: example.com/app#1.0\n')
  await fs.writeFile(path.join(stack, 'lock.json'), '{"apiVersion":"1","images":[{"name":"web","digest":"sha256:00"}]}\n')
  await fs.writeFile(path.join(stack, 'meta.json'), '{"title":"Web"}\n')
  const doco = path.join(root, 'deploy')
  await fs.mkdir(path.join(doco, 'compose', 'env'), { recursive: true })
  await fs.writeFile(path.join(doco, '.doco-cd.yaml'), 'name: web\nreference: main\n')
  await fs.writeFile(path.join(doco, 'compose', 'docker-compose.yml'), 'services:\n  web:\n    image: nginx\n')
  await fs.writeFile(path.join(doco, 'compose', 'env', 'prod.env'), 'MODE=prod\n')
  await fs.writeFile(path.join(doco, 'deploy.sh'), '#!/bin/sh\necho deploying\n', { mode: 0o755 })
  await fs.chmod(path.join(doco, 'deploy.sh'), 0o755)
  await fs.symlink('compose/docker-compose.yml', path.join(doco, 'compose.yml'))
  const aicr = path.join(root, 'bundle')
  await fs.mkdir(path.join(aicr, 'manifests'), { recursive: true })
  await fs.writeFile(path.join(aicr, 'recipe.yaml'), 'kind: Recipe\n')
  await fs.writeFile(path.join(aicr, 'manifests', 'gpu-operator.yaml'), 'apiVersion: v1\nkind: ConfigMap\n')
  return { stack, doco, aicr }
}

async function packAll(sources: typeof src, out: string, extraEnv: Record<string, string> = {}) {
  for (const [args, name] of [
    [[sources.stack, '--preset', 'rsgo-stack', '--tag', '1.0'], 'stack'],
    [[sources.doco, '--preset', 'doco', '--tag', 'v3'], 'deploy'],
    [[sources.aicr, '--preset', 'aicr', '--tag', 'v1.0.0'], 'bundle'],
  ] as Array<[string[], string]>) {
    const r = await ocisite(['pack', ...args, '--out', path.join(out, name)], { env: env(extraEnv) })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  }
}

/** Request paths nginx served since `from` bytes into its access log. */
async function requestsSince(from: number): Promise<string[]> {
  const log = await fs.readFile(nginx.accessLog, 'utf8')
  return [...log.slice(from).matchAll(/"(?:GET|HEAD) ([^ ]+) HTTP/g)].map((m) => m[1]!)
}
const logSize = async () => (await fs.stat(nginx.accessLog).catch(() => ({ size: 0 }))).size

beforeAll(async () => {
  work = await tempDir()
  cache = path.join(work, 'cache')
  src = await makeSources(path.join(work, 'src'))
  layouts = path.join(work, 'layouts')
  await packAll(src, layouts)

  // Hostile artifacts: each a layout whose one layer tries something.
  const hostile: Array<[string, Buffer, string, string?]> = [
    ['dotdot', rawTar([{ name: '../x', type: '0', content: 'escaped' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['absolute', rawTar([{ name: '/etc/x', type: '0', content: 'escaped' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['through-link', rawTar([{ name: 'root', type: '2', linkname: '/' }, { name: 'root/tmp/ocisite-escaped', type: '0', content: 'escaped' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['relative-link', rawTar([{ name: 'up', type: '2', linkname: '../..' }, { name: 'up/ocisite-escaped', type: '0', content: 'escaped' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['hardlink', rawTar([{ name: 'passwd', type: '1', linkname: '../../../../etc/passwd' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['device', rawTar([{ name: 'null', type: '3' }]), 'application/vnd.oci.image.layer.v1.tar'],
    ['title', Buffer.from('escaped'), 'text/plain', '../../x'],
  ]
  for (const [name, bytes, mediaType, title] of hostile) {
    const w = await OciLayout.create(path.join(layouts, 'hostile', name))
    const layer = await w.putBytes(bytes, mediaType, title ? { annotations: { 'org.opencontainers.image.title': title } } : {})
    const config = await w.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
    await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x.hostile', config, layers: [layer] }, MediaType.ociManifest), '1')
  }
  // And one whose layer the site will serve with the wrong bytes (same size).
  const w = await OciLayout.create(path.join(layouts, 'hostile', 'corrupt'))
  const layer = await w.putBytes(Buffer.from('the right bytes'), 'text/plain', { annotations: { 'org.opencontainers.image.title': 'file.txt' } })
  const config = await w.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
  await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }, MediaType.ociManifest), '1')

  port = await freePort()
  site = path.join(work, 'site')
  const conf = path.join(work, 'site.conf')
  const built = await ocisite(['build', layouts, '--host', 'localhost', '--out', site, '--nginx', conf, '--listen', `127.0.0.1:${port}`])
  expect(built.code, built.stderr).toBe(0)
  const hex = layer.digest.slice(7)
  await fs.writeFile(path.join(site, 'oci-cas/sha256', hex.slice(0, 2), hex), 'the wrong bytes')
  nginx = await startNginx([conf], port)
})

afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

describe('pack → build → get through nginx', () => {
  const cases: Array<[string, string, keyof typeof src]> = [
    ['a ReadyStackGo stack (3 files, each with its media type)', 'localhost/stack#1.0', 'stack'],
    ['a doco-cd directory (nested directories, an executable, a symlink)', 'localhost/deploy#v3', 'doco'],
    ['an AICR bundle', 'localhost/bundle#v1.0.0', 'aicr'],
  ]
  for (const [what, name, key] of cases) {
    it(`${what}: the files come back byte-identical, with their modes`, async () => {
      const dir = path.join(await tempDir(), 'out')
      const r = await ocisite(['get', name, dir, ...http()], { env: env() })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(await files(dir)).toEqual(await files(src[key]))
    })
  }

  it('the stack bundle has the RSGO media types, titles and the empty config; AICR its artifact type', async () => {
    const index = JSON.parse(await fs.readFile(path.join(site, 'oci-index/stack'), 'utf8'))
    const m = index.manifests[0]
    const hex = m.digest.slice(7)
    const manifest = JSON.parse(await fs.readFile(path.join(site, 'oci-cas/sha256', hex.slice(0, 2), hex), 'utf8'))
    expect(manifest.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2, data: 'e30=' })
    expect(manifest.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.annotations['org.opencontainers.image.title'], l.mediaType])).toEqual([
      ['stack.yaml', 'application/vnd.rsgo.stack.manifest.v1+yaml'],
      ['lock.json', 'application/vnd.rsgo.stack.lock.v1+json'],
      ['meta.json', 'application/vnd.rsgo.stack.meta.v1+json'],
    ])
    expect(manifest.annotations['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20Z')
    const aicr = JSON.parse(await fs.readFile(path.join(site, 'oci-index/bundle'), 'utf8')).manifests[0]
    expect(aicr.artifactType).toBe('application/vnd.nvidia.aicr.artifact')
  })
})

describe('reproducible packing', () => {
  it('two packs of the same inputs, elsewhere and with other mtimes, give byte-identical layouts; the digests are pinned', async () => {
    const other = await tempDir()
    const copy = await makeSources(path.join(other, 'src'))
    // Other mtimes everywhere.
    for (const dir of Object.values(copy)) {
      for (const [rel] of Object.entries(await files(dir))) {
        if (!rel.endsWith('/')) await fs.lutimes(path.join(dir, rel), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'))
      }
    }
    const second = path.join(other, 'layouts')
    await packAll(copy, second)
    for (const name of ['stack', 'deploy', 'bundle']) expect(await snapshot(path.join(second, name)), name).toEqual(await snapshot(path.join(layouts, name)))
    const digestOf = async (name: string) => JSON.parse(await fs.readFile(path.join(layouts, name, 'index.json'), 'utf8')).manifests[0].digest
    // Pinned: a change to the packing (order, modes, gzip, annotations) must be deliberate.
    expect(await digestOf('stack')).toBe(PINNED.stack)
    expect(await digestOf('deploy')).toBe(PINNED.deploy)
    expect(await digestOf('bundle')).toBe(PINNED.bundle)
  })
})

/** Digests of the three packed artifacts (SOURCE_DATE_EPOCH=1700000000), recorded when the packing was written. */
const PINNED = {
  stack: 'sha256:f5de38c5ab033326ae1581a717a2de1a94cb8c99d4113a8291a83e48f4f2e363',
  deploy: 'sha256:01d4dac45e65534dedd772c6e28c0ccc107d5688baf4f3189775c897bfc61e78',
  bundle: 'sha256:5b7e41cfcac1cc7fcbfb9b1d93ee7c94e661b4bfeaf0f0bd6c9e4f895c6a2f05',
}

describe('interop', () => {
  it('skopeo inspects and copies by digest from /v2/, and reads the packed layout directly; umoci lists it', async () => {
    const reg = `127.0.0.1:${port}`
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg}/deploy:v3`)
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`
    const layoutIndex = JSON.parse(await fs.readFile(path.join(layouts, 'deploy', 'index.json'), 'utf8'))
    expect(digest).toBe(layoutIndex.manifests[0].digest)
    const dest = path.join(await tempDir(), 'copied')
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg}/deploy@${digest}`, `oci:${dest}`)
    for (const f of await fs.readdir(path.join(dest, 'blobs', 'sha256'))) {
      expect((await fs.readFile(path.join(dest, 'blobs/sha256', f))).equals(await fs.readFile(path.join(layouts, 'deploy', 'blobs/sha256', f))), f).toBe(true)
    }
    expect(await skopeo('inspect', '--raw', `oci:${path.join(layouts, 'stack')}:1.0`)).toBe((await fs.readFile(path.join(layouts, 'stack', 'blobs/sha256', JSON.parse(await fs.readFile(path.join(layouts, 'stack', 'index.json'), 'utf8')).manifests[0].digest.slice(7)))).toString())
    const { stdout } = await run('umoci', ['ls', '--layout', path.join(layouts, 'bundle')])
    expect(stdout.trim()).toBe('v1.0.0')
  })

  it('containerd fetches the artifact from /v2/ (ctr content fetch), manifest and layers byte-identical', async () => {
    const containerd = await startContainerd()
    try {
      const ref = `127.0.0.1:${port}/stack:1.0`
      await containerd.ctr('content', 'fetch', '--plain-http', ref)
      const index = JSON.parse(await fs.readFile(path.join(layouts, 'stack', 'index.json'), 'utf8'))
      const manifestDigest = index.manifests[0].digest as string
      const manifest = JSON.parse(await fs.readFile(path.join(layouts, 'stack', 'blobs/sha256', manifestDigest.slice(7)), 'utf8'))
      for (const d of [manifestDigest, ...manifest.layers.map((l: { digest: string }) => l.digest)]) {
        // The stack's manifest and layers are text, so ctr's output is their bytes.
        const bytes = Buffer.from(await containerd.ctr('content', 'get', d), 'utf8')
        expect(createHash('sha256').update(bytes).digest('hex'), d).toBe(d.slice(7))
        expect(bytes.equals(await fs.readFile(path.join(layouts, 'stack', 'blobs/sha256', d.slice(7)))), d).toBe(true)
      }
    } finally {
      await containerd.stop()
    }
  })
})

describe('referrers', () => {
  it('pack --subject NAME#TAG resolves the subject on the site; a tag in --out works too', async () => {
    const box = await tempDir()
    await fs.writeFile(path.join(box, 'sbom.json'), '{"spdxVersion":"SPDX-2.3"}\n')
    const out = path.join(box, 'L')
    const r = await ocisite(['pack', `${path.join(box, 'sbom.json')}:application/spdx+json`, '--subject', 'localhost/stack#1.0', ...http(), '--out', out, '--tag', 'sbom', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const stack = JSON.parse(await fs.readFile(path.join(site, 'oci-index/stack'), 'utf8')).manifests[0]
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'blobs/sha256', JSON.parse(r.stdout).digest.slice(7)), 'utf8'))
    expect(manifest.subject).toEqual({ mediaType: stack.mediaType, digest: stack.digest, size: stack.size })
    expect(manifest.layers[0].mediaType).toBe('application/spdx+json')
    const local = await ocisite(['pack', path.join(box, 'sbom.json'), '--subject', 'sbom', '--out', out, '--tag', 'sbom-of-sbom', '--json'])
    expect(local.code, local.stderr).toBe(0)
    const second = JSON.parse(await fs.readFile(path.join(out, 'blobs/sha256', JSON.parse(local.stdout).digest.slice(7)), 'utf8'))
    expect(second.subject.digest).toBe(JSON.parse(r.stdout).digest)
  })
})

describe('hostile artifacts', () => {
  const cases: Array<[string, RegExp]> = [
    ['dotdot', /"\.\.\/x" climbs out with "\.\."/],
    ['absolute', /"\/etc\/x" is an absolute path/],
    ['through-link', /symlink "root" points at the absolute path \//],
    ['relative-link', /symlink "up" points out of the directory/],
    ['hardlink', /hard link target "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" climbs out|hard link "passwd"/],
    ['device', /"null" is a device node/],
    ['title', /title "\.\.\/\.\.\/x" climbs out with "\.\."/],
    ['corrupt', /DIGEST_MISMATCH|PROTOCOL|digest/],
  ]
  for (const [name, message] of cases) {
    it(`${name}: exit 4, one line, nothing written outside DIR (and nothing in it)`, async () => {
      const box = await tempDir()
      const dir = path.join(box, 'a', 'b', 'out')
      const r = await ocisite(['get', `localhost/hostile/${name}#1`, dir, ...http()], { env: env({ XDG_CACHE_HOME: path.join(box, 'cache') }) })
      expect(r.code, r.stderr).toBe(4)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(message)
      const outside = (await fs.readdir(box, { recursive: true })).map(String).filter((p) => !p.startsWith('cache'))
      expect(outside.sort()).toEqual(name === 'corrupt' ? [] : ['a', 'a/b', 'a/b/out'])
      if (name !== 'corrupt') expect(await fs.readdir(dir)).toEqual([])
      await expect(fs.stat('/tmp/ocisite-escaped')).rejects.toThrow()
    })
  }
})

describe('presets check their inputs', () => {
  it('a stack without stack.yaml, or a deploy directory without .doco-cd.yaml: exit 2 naming the file', async () => {
    const dir = await tempDir()
    await fs.writeFile(path.join(dir, 'lock.json'), '{}')
    const r = await ocisite(['pack', dir, '--preset', 'rsgo-stack', '--out', path.join(dir, 'L'), '--tag', '1'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('stack.yaml is missing')
    const d = await ocisite(['pack', dir, '--preset', 'doco', '--out', path.join(dir, 'L'), '--tag', '1'])
    expect(d.code).toBe(2)
    expect(d.stderr).toContain('.doco-cd.yaml is missing')
    await expect(fs.stat(path.join(dir, 'L'))).rejects.toThrow()
  })
})

describe('the cache', () => {
  it('a second get of an unchanged tag makes only the well-known and index requests: no blob GETs', async () => {
    const dir = path.join(await tempDir(), 'out')
    const box = await tempDir()
    const first = await ocisite(['get', 'localhost/deploy#v3', dir, ...http()], { env: env({ XDG_CACHE_HOME: box }) })
    expect(first.code, first.stderr).toBe(0)
    const mark = await logSize()
    const second = await ocisite(['get', 'localhost/deploy#v3', dir, ...http(), '--json'], { env: env({ XDG_CACHE_HOME: box }) })
    expect(second.code, second.stderr).toBe(0)
    expect(JSON.parse(second.stdout).blobs.fetched).toBe(0)
    const seen = await requestsSince(mark)
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.filter((p) => p !== '/.well-known/oci-host-ref-engines' && !p.startsWith('/oci-index/'))).toEqual([])
    expect(await files(dir)).toEqual(await files(src.doco))
  })
})

describe('writing into a DIR that has files', () => {
  it("the artifact's files replace theirs, directories merge, and the user's other files stay", async () => {
    const dir = path.join(await tempDir(), 'out')
    await fs.mkdir(path.join(dir, 'compose'), { recursive: true })
    await fs.writeFile(path.join(dir, 'compose', 'docker-compose.yml'), 'stale\n')
    await fs.writeFile(path.join(dir, 'compose', 'mine.txt'), 'mine\n')
    await fs.writeFile(path.join(dir, 'notes.txt'), 'notes\n')
    const r = await ocisite(['get', 'localhost/deploy#v3', dir, ...http()], { env: env() })
    expect(r.code, r.stderr).toBe(0)
    const got = await files(dir)
    const want = await files(src.doco)
    for (const [k, v] of Object.entries(want)) expect(got[k], k).toBe(v)
    expect(await fs.readFile(path.join(dir, 'compose', 'mine.txt'), 'utf8')).toBe('mine\n')
    expect(await fs.readFile(path.join(dir, 'notes.txt'), 'utf8')).toBe('notes\n')
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('.ocisite-'))).toEqual([])
  })
})

describe('lock files', () => {
  it('lock, then get --lock fetches by digest: moving the tag on the site does not change what it returns', async () => {
    const box = await tempDir()
    const lockFile = path.join(box, 'ocisite.lock')
    const l = await ocisite(['lock', 'localhost/deploy#v*', 'localhost/stack#1.0', '--out', lockFile, ...http()])
    expect(l.code, l.stderr).toBe(0)
    const pins = JSON.parse(await fs.readFile(lockFile, 'utf8')).pins
    expect(pins.map((p: { name: string }) => p.name)).toEqual(['localhost/deploy#v3', 'localhost/stack#1.0'])

    // Move deploy#v3 to new content on the live site.
    const moved = path.join(box, 'moved')
    await fs.cp(src.doco, moved, { recursive: true, verbatimSymlinks: true })
    await fs.writeFile(path.join(moved, '.doco-cd.yaml'), 'name: web\nreference: v2\n')
    const packed = await ocisite(['pack', moved, '--preset', 'doco', '--out', path.join(box, 'L'), '--tag', 'v3'], { env: env() })
    expect(packed.code, packed.stderr).toBe(0)
    // (The site still publishes the image whose blob the hostile tests damaged: an update refuses a
    // damaged site, so that image goes first.)
    expect((await ocisite(['rm', 'hostile/corrupt', '--site', site])).code).toBe(0)
    const added = await ocisite(['add', path.join(box, 'L'), '--path', 'deploy', '--site', site, '--force'])
    expect(added.code, added.stderr).toBe(0)

    const mark = await logSize()
    const pinnedDir = path.join(box, 'pinned')
    const r = await ocisite(['get', 'localhost/deploy#v3', pinnedDir, '--lock', lockFile, ...http()], { env: env({ XDG_CACHE_HOME: path.join(box, 'cache') }) })
    expect(r.code, r.stderr).toBe(0)
    expect(await files(pinnedDir)).toEqual(await files(src.doco))
    // By digest: the index was never read.
    expect((await requestsSince(mark)).filter((p) => p.startsWith('/oci-index/'))).toEqual([])
    const fresh = path.join(box, 'fresh')
    expect((await ocisite(['get', 'localhost/deploy#v3', fresh, ...http()], { env: env({ XDG_CACHE_HOME: path.join(box, 'cache') }) })).code).toBe(0)
    expect(await files(fresh)).toEqual(await files(moved))
    // A name the lock file does not pin is refused, not fetched by tag.
    const unpinned = await ocisite(['get', 'localhost/bundle#v1.0.0', path.join(box, 'x'), '--lock', lockFile, ...http()], { env: env() })
    expect(unpinned.code).toBe(3)
    expect(unpinned.stderr).toContain('is not pinned')
  })
})

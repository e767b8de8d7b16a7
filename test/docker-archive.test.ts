// `docker save` archives, as most users have them, through the installed CLI: the OCI layout that
// Docker 25 and later write inside them (legacy files beside it skipped), and the legacy
// docker-archive (podman, skopeo, Docker 24 and earlier) converted as skopeo converts it. Each
// published image is compared with skopeo's own conversion of the same archive, and pulled back
// through the real nginx by skopeo and unpacked by umoci.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { skopeo, startPodman } from './helpers/clients.js'
import { dockerSave24, dockerSave25, type SavedImage } from './helpers/docker-save.js'
import { tarLayer, tempDir } from './helpers/fixtures.js'
import { installed, installedBin, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { snapshot } from './helpers/tree.js'

const run = promisify(execFile)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
let work: string
let archives: string
let layouts: string
let port: number
let nginx: RunningNginx
let buildOut: string
let buildStdout: string
let app: SavedImage
let db: SavedImage

/** An OCI layout holding `img` tagged `tag`, for podman and skopeo to start from. */
async function layoutOf(img: SavedImage, dir: string, tag: string): Promise<void> {
  const w = await OciLayout.create(dir)
  const layers = await Promise.all(img.layers.map((l) => w.putBytes(l, 'application/vnd.oci.image.layer.v1.tar')))
  const config = await w.putJson(
    { architecture: img.architecture, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } },
    'application/vnd.oci.image.config.v1+json',
  )
  await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }, 'application/vnd.oci.image.manifest.v1+json'), tag)
}

beforeAll(async () => {
  work = await tempDir()
  archives = path.join(work, 'archives')
  await fs.mkdir(archives)
  const one = await tarLayer({ 'etc/app': 'app one\n' })
  app = { layers: [one, await tarLayer({ 'etc/app2': 'app two\n' })], architecture: 'amd64', repoTags: ['example.com/app:1.0'] }
  // db repeats a layer: docker writes the second copy as a symlink, podman lists one file twice.
  db = { layers: [one, await tarLayer({ 'etc/db': 'db\n' }), one], architecture: 'arm64', repoTags: ['db:2.0'] }
  // podman names an image pulled from oci:DIR after DIR, which must be lowercase.
  layouts = path.join(os.tmpdir(), `ocisite-layouts-${randomBytes(6).toString('hex')}`)
  await layoutOf(app, path.join(layouts, 'app'), '1.0')
  await layoutOf(db, path.join(layouts, 'db'), '2.0')
  const p = await startPodman()
  try {
    // podman pull prints the image ID last.
    const pull = async (dir: string, tag: string) => (await p.podman('pull', `oci:${path.join(layouts, dir)}:${tag}`)).trim().split('\n').pop()!
    const [appId, dbId] = [await pull('app', '1.0'), await pull('db', '2.0')]
    await p.podman('tag', appId, 'example.com/app:1.0')
    await p.podman('tag', dbId, 'localhost/db:2.0', 'localhost/db:1.0')
    const save = (file: string, ...args: string[]) => p.podman('save', '-o', file, ...args)
    await save(path.join(archives, 'podman-docker.tar'), '--format', 'docker-archive', 'example.com/app:1.0')
    await save(path.join(archives, 'podman-oci.tar'), '--format', 'oci-archive', 'example.com/app:1.0')
    await save(path.join(archives, 'podman-multi.tar'), '-m', '--format', 'docker-archive', 'example.com/app:1.0', 'localhost/db:2.0')
    await save(path.join(work, 'podman-clash.tar'), '-m', '--format', 'docker-archive', 'example.com/app:1.0', 'localhost/db:1.0')
    await save(path.join(work, 'podman-untagged.tar'), '--format', 'docker-archive', dbId)
  } finally {
    await p.stop()
  }
  await skopeo('copy', `oci:${path.join(layouts, 'app')}:1.0`, `docker-archive:${path.join(archives, 'skopeo-docker.tar')}:example.com/app:1.0`)
  for (const [from, to] of [['podman-docker.tar', 'podman-docker-gz.tar.gz'], ['podman-oci.tar', 'podman-oci-gz.tar.gz']]) {
    await run('sh', ['-c', `gzip -n -c '${path.join(archives, from!)}' > '${path.join(archives, to!)}'`])
  }
  await dockerSave24([app, db], path.join(archives, 'docker24.tar'))
  await dockerSave25([app], path.join(archives, 'docker25.tar'), { engine: '25.0' })
  await dockerSave25([{ ...db, repoTags: [] }, app], path.join(archives, 'docker26.tar'), { engine: '26.1' })
  await dockerSave25([db], path.join(archives, 'docker25-legacy-dirs.tar'), { engine: '25.0', legacyDirs: true })

  port = await freePort()
  buildOut = path.join(work, 'site')
  const r = await installed(['build', archives, '--host', 'localhost', '--out', buildOut, '--nginx', path.join(work, 'site.conf'), '--listen', `127.0.0.1:${port}`])
  expect(r.code, r.stderr).toBe(0)
  buildStdout = r.stdout
  nginx = await startNginx([path.join(work, 'site.conf')], port)
}, 300_000)
afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
  await fs.rm(layouts, { recursive: true, force: true })
})
const ref = (name: string) => `docker://127.0.0.1:${port}/${name}`
const rawManifest = async (name: string) => Buffer.from(await skopeo('inspect', '--raw', '--tls-verify=false', ref(name)))
const siteBlob = (digest: string) => fs.readFile(path.join(buildOut, 'oci-cas', 'sha256', digest.slice(7, 9), digest.slice(7)))
const blobOf = (layout: string, digest: string) => fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)))
const manifestOf = async (layout: string) => {
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'))
  const bytes = await blobOf(layout, index.manifests[0].digest)
  return { digest: index.manifests[0].digest as string, bytes, doc: JSON.parse(bytes.toString()) }
}

describe('building from docker save archives', () => {
  it('publishes every kind found in a directory, each under its file name with its tags', () => {
    for (const line of [
      'localhost/docker24: 1.0, 2.0',
      'localhost/docker25: 1.0',
      'localhost/docker25-legacy-dirs: 2.0',
      'localhost/docker26: 1.0',
      'localhost/podman-docker: 1.0',
      'localhost/podman-docker-gz: 1.0',
      'localhost/podman-multi: 1.0, 2.0',
      'localhost/podman-oci: 1.0',
      'localhost/podman-oci-gz: 1.0',
      'localhost/skopeo-docker: 1.0',
    ]) {
      expect(buildStdout).toContain(line)
    }
  })

  // A docker-archive's image, and the archive (and image in it) skopeo reads for the same thing.
  it.each([
    ['podman save --format docker-archive', 'podman-docker:1.0', 'podman-docker.tar', ''],
    ['the same, gzip-compressed', 'podman-docker-gz:1.0', 'podman-docker.tar', ''],
    ['skopeo copy … docker-archive:', 'skopeo-docker:1.0', 'skopeo-docker.tar', ''],
    ['podman save -m, first image', 'podman-multi:1.0', 'podman-multi.tar', ':@0'],
    ['podman save -m, second image (a layer twice)', 'podman-multi:2.0', 'podman-multi.tar', ':@1'],
    ['Docker 24 docker save, first image', 'docker24:1.0', 'docker24.tar', ':@0'],
    ['Docker 24 docker save, a layer twice (a symlink)', 'docker24:2.0', 'docker24.tar', ':@1'],
  ])('%s: the config, layers and manifest skopeo writes for it', async (_, name, archive, which) => {
    const src = `docker-archive:${path.join(archives, archive)}${which}`
    const scratch = await fs.mkdtemp(path.join(work, 'skopeo-'))
    const plain = path.join(scratch, 'plain')
    const kept = path.join(scratch, 'kept')
    await skopeo('copy', src, `oci:${plain}:x`)
    await skopeo('copy', '--dest-oci-accept-uncompressed-layers', src, `oci:${kept}:x`)
    const served = await rawManifest(name)
    const ours = JSON.parse(served.toString())
    const skopeoKept = await manifestOf(kept)
    const skopeoPlain = await manifestOf(plain)
    // The manifest is skopeo's byte for byte but for the layers' media type: skopeo keeps the
    // docker source's gzip type for these uncompressed layers; they are labelled as tar here.
    expect(served.toString()).toBe(skopeoKept.bytes.toString().replaceAll('application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar'))
    expect(skopeoKept.doc.layers.every((l: { mediaType: string }) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true)
    // The config: the same bytes and digest as both of skopeo's conversions.
    expect(ours.config).toEqual(skopeoPlain.doc.config)
    expect(sha(await siteBlob(ours.config.digest))).toBe(ours.config.digest.slice(7))
    // Each layer: the archive's tar byte for byte, the same as skopeo's kept layer and skopeo's
    // compressed layer once inflated.
    for (const [i, layer] of ours.layers.entries()) {
      const bytes = await siteBlob(layer.digest)
      expect(bytes.equals(await blobOf(kept, skopeoKept.doc.layers[i].digest))).toBe(true)
      expect(gunzipSync(await blobOf(plain, skopeoPlain.doc.layers[i].digest)).equals(bytes)).toBe(true)
    }
  }, 120_000)

  it.each([
    ['Docker 25.0 (platforms in the index and config descriptor)', 'docker25', '1.0'],
    ['Docker 26.1 and later (an untagged image listed first)', 'docker26', '1.0'],
    ['Docker 25 with legacy layer directories whose layer.tar are symlinks into blobs/', 'docker25-legacy-dirs', '2.0'],
    ['podman save --format oci-archive', 'podman-oci', '1.0'],
    ['the same, gzip-compressed', 'podman-oci-gz', '1.0'],
  ])('%s: the layout inside is published as it is', async (_, name, tag) => {
    const dir = await fs.mkdtemp(path.join(work, 'layout-'))
    await run('tar', ['-xf', path.join(archives, `${name}.tar${name.endsWith('-gz') ? '.gz' : ''}`), '-C', dir])
    const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
    // Docker writes the bare tag as ref.name; podman the full name (example.com/app:1.0).
    const refName = (m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] ?? ''
    const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => refName(m) === tag || refName(m).endsWith(`:${tag}`))
    const served = await rawManifest(`${name}:${tag}`)
    expect(`sha256:${sha(served)}`).toBe(entry.digest)
    expect(served.equals(await blobOf(dir, entry.digest))).toBe(true)
    await fs.rm(dir, { recursive: true, force: true })
  })

  it.each([
    ['podman-docker', '1.0', { 'etc/app': 'app one\n', 'etc/app2': 'app two\n' }],
    ['docker24', '2.0', { 'etc/app': 'app one\n', 'etc/db': 'db\n' }],
    ['docker25', '1.0', { 'etc/app': 'app one\n', 'etc/app2': 'app two\n' }],
    ['podman-multi', '2.0', { 'etc/app': 'app one\n', 'etc/db': 'db\n' }],
  ])('%s:%s pulls through nginx with skopeo, and umoci unpacks it', async (name, tag, files) => {
    const dir = await fs.mkdtemp(path.join(work, 'pull-'))
    await skopeo('copy', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', ref(`${name}:${tag}`), `oci:${path.join(dir, 'pulled')}:${tag}`)
    expect((await manifestOf(path.join(dir, 'pulled'))).digest).toBe(`sha256:${sha(await rawManifest(`${name}:${tag}`))}`)
    await run('umoci', ['unpack', '--rootless', '--image', `${path.join(dir, 'pulled')}:${tag}`, path.join(dir, 'bundle')])
    for (const [file, text] of Object.entries(files)) expect(await fs.readFile(path.join(dir, 'bundle', 'rootfs', file), 'utf8')).toBe(text)
    await fs.rm(dir, { recursive: true, force: true })
  }, 120_000)
})

describe('what docker archives cannot publish', () => {
  let site: string
  let previous: Awaited<ReturnType<typeof snapshot>>
  beforeAll(async () => {
    site = path.join(work, 'kept-site')
    const r = await installed(['build', path.join(archives, 'skopeo-docker.tar'), '--host', 'localhost', '--out', site])
    expect(r.code, r.stderr).toBe(0)
    previous = await snapshot(site)
  })

  /** Build `args` into the kept site: exit 2, one line naming code and fragments, the site untouched. */
  async function rejected(args: string[], code: string, fragments: Array<string | RegExp>): Promise<void> {
    const r = await installed(['build', ...args, '--host', 'localhost', '--out', site])
    expect(r.code, r.stderr).toBe(2)
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`error[${code}]`)
    for (const f of fragments) expect(lines[0]).toMatch(f)
    expect(await snapshot(site)).toEqual(previous)
  }

  it('two images of one archive giving the same tag: exit 2 naming the tag', async () => {
    await rejected([path.join(work, 'podman-clash.tar')], 'TAG_CONFLICT', [/podman-clash:1\.0 comes from .*podman-clash\.tar as sha256:\w+ and from .*podman-clash\.tar as sha256:\w+/])
  })

  it('an image saved by ID (no RepoTags) is untagged: alone it is nothing to publish, beside others a warning', async () => {
    await rejected([path.join(work, 'podman-untagged.tar')], 'NOTHING_TO_PUBLISH', [/podman-untagged\.tar: no tags \(tags: none\)/])
    const cwd = await outsideDir()
    await fs.copyFile(path.join(work, 'podman-untagged.tar'), path.join(cwd, 'podman-untagged.tar'))
    const beside = await installed(['build', 'podman-untagged.tar', path.join(archives, 'skopeo-docker.tar'), '--host', 'localhost', '--out', 'site'], { cwd })
    expect(beside.code, beside.stderr).toBe(0)
    expect(beside.stderr).toContain('podman-untagged.tar: no tags to publish (tags: none)')
    expect(beside.stdout).toContain('localhost/skopeo-docker: 1.0')
    await fs.rm(cwd, { recursive: true, force: true })
  })

  /** The Docker 24 archive of [app, db] (db's third layer a symlink to its first), extracted for `edit`, then tarred again by GNU tar (names as ./…). */
  async function edited24(name: string, edit: (dir: string, manifest: any[]) => Promise<void>): Promise<string> {
    const dir = await fs.mkdtemp(path.join(work, 'edit-'))
    await run('tar', ['-xf', path.join(archives, 'docker24.tar'), '-C', dir])
    const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'))
    await edit(dir, manifest)
    await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest))
    const file = path.join(work, `${name}.tar`)
    await run('tar', ['-cf', file, '-C', dir, '.'])
    return file
  }
  /** db's repeated layer: a symlink in the archive. */
  const dbLink = (dir: string, m: any[]) => path.join(dir, m[1].Layers[2])
  const gz = (b: Buffer) => gzipSync(b)

  it.each<[string, string, Array<string | RegExp>, (dir: string, m: any[]) => Promise<void>, string[]?]>([
    ['a layer.tar symlink that climbs out of the archive', 'ARCHIVE_UNSAFE', ['layer.tar', 'is a symlink out of the archive', '../../../etc/passwd'], async (d, m) => {
      await fs.rm(dbLink(d, m))
      await fs.symlink('../../../etc/passwd', dbLink(d, m))
    }],
    ['an absolute layer.tar symlink', 'ARCHIVE_UNSAFE', ['is a symlink out of the archive', '/etc/passwd'], async (d, m) => {
      await fs.rm(dbLink(d, m))
      await fs.symlink('/etc/passwd', dbLink(d, m))
    }],
    ['manifest.json naming a layer outside the archive', 'ARCHIVE_UNSAFE', ['manifest.json [1]', '"../x.tar" escapes the archive'], async (_, m) => {
      m[1].Layers[1] = '../x.tar'
    }],
    ['manifest.json naming a file that is not there', 'LAYOUT_INVALID', ['manifest.json [0]', 'is not a file in the archive'], async (_, m) => {
      m[0].Layers[0] = 'nothing/layer.tar'
    }],
    ['two symlinks pointing at each other', 'LAYOUT_INVALID', ['more than 40 symlinks'], async (d, m) => {
      await fs.mkdir(path.join(d, 'a'))
      await fs.symlink('../b/layer.tar', path.join(d, 'a', 'layer.tar'))
      await fs.mkdir(path.join(d, 'b'))
      await fs.symlink('../a/layer.tar', path.join(d, 'b', 'layer.tar'))
      m[0].Layers[0] = 'a/layer.tar'
    }],
    ['a layer that is not its diff_id', 'DIGEST_MISMATCH', ['manifest.json [0]', "but the image config's diff_id is sha256:"], async (d, m) => {
      await fs.appendFile(path.join(d, m[0].Layers[1]), Buffer.alloc(512))
    }],
    ['fewer layers than diff_ids', 'LAYOUT_INVALID', ['lists 2 layers', 'has 3 diff_ids'], async (_, m) => {
      m[1].Layers.pop()
    }],
    ['a zstd layer', 'LAYOUT_INVALID', ['zstd-compressed', 'uncompressed or gzip'], async (d, m) => {
      await fs.writeFile(path.join(d, m[0].Layers[1]), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]))
    }],
    ['a gzip layer that is cut short', 'LAYOUT_INVALID', ['is not valid gzip'], async (d, m) => {
      const file = path.join(d, m[0].Layers[1])
      const z = gz(await fs.readFile(file))
      await fs.writeFile(file, z.subarray(0, z.length - 12))
    }],
    ['a gzip layer that inflates past --max-archive-size', 'TOO_LARGE', ['inflates past', '--max-archive-size'], async (d, m) => {
      const zeros = Buffer.alloc(3 * 1024 * 1024)
      await fs.writeFile(path.join(d, m[0].Layers[1]), gz(zeros))
      const config = m[0].Config
      const doc = JSON.parse(await fs.readFile(path.join(d, config), 'utf8'))
      doc.rootfs.diff_ids[1] = `sha256:${sha(zeros)}`
      await fs.writeFile(path.join(d, config), JSON.stringify(doc))
    }, ['--max-archive-size', '1M']],
    ['a RepoTag that is no name', 'TAG_INVALID', ['RepoTags', 'app:bad tag'], async (_, m) => {
      m[0].RepoTags = ['app:bad tag']
    }],
    ['manifest.json that is not a list of images', 'LAYOUT_INVALID', ['manifest.json', 'needs "Config"'], async (_, m) => {
      delete m[0].Config
    }],
  ])('%s: exit 2, one line, the site untouched', async (name, code, fragments, edit, extra = []) => {
    const file = await edited24(name.replace(/\W+/g, '-'), edit)
    await rejected([file, ...extra], code, fragments)
  })

  it.each<[string, string, string, (dir: string) => Promise<void>]>([
    ['a legacy layer directory linking out of the archive', 'ARCHIVE_UNSAFE', 'is a symlink out of the archive', async (d) => {
      const legacy = (await fs.readdir(d)).find((e) => /^[0-9a-f]{64}$/.test(e))!
      await fs.rm(path.join(d, legacy, 'layer.tar'))
      await fs.symlink('../../outside.tar', path.join(d, legacy, 'layer.tar'))
    }],
    ['a symlink among blobs/, even one pointing inside', 'ARCHIVE_UNSAFE', 'a layout holds only regular files', async (d) => {
      const blobs = path.join(d, 'blobs', 'sha256')
      const first = (await fs.readdir(blobs))[0]!
      await fs.rename(path.join(blobs, first), path.join(d, 'moved'))
      await fs.symlink('../../moved', path.join(blobs, first))
    }],
  ])('Docker 25: %s', async (name, code, fragment, edit) => {
    const dir = await fs.mkdtemp(path.join(work, 'edit-'))
    await run('tar', ['-xf', path.join(archives, 'docker25-legacy-dirs.tar'), '-C', dir])
    await edit(dir)
    const file = path.join(work, `${name.replace(/\W+/g, '-')}.tar`)
    await run('tar', ['-cf', file, '-C', dir, '.'])
    await rejected([file], code, [fragment])
  })
})

describe('in flat memory', () => {
  it('a docker-archive of two 256 MiB layers (one raw, one gzip) converts and publishes in less memory than one layer', async () => {
    const MiB = 1024 * 1024
    const dir = await fs.mkdtemp(path.join(work, 'big-'))
    const stage = path.join(dir, 'stage')
    await fs.mkdir(stage)
    // Written and hashed by shell tools, so the test never holds a layer in memory either.
    const sh = (script: string) => run('sh', ['-c', script], { cwd: stage, maxBuffer: MiB })
    await sh(`head -c ${256 * MiB} /dev/urandom > raw.tar && head -c ${256 * MiB} /dev/zero | gzip -1 > zeros.tar`)
    const raw = (await sh('sha256sum raw.tar')).stdout.slice(0, 64)
    const zeros = (await sh(`head -c ${256 * MiB} /dev/zero | sha256sum`)).stdout.slice(0, 64)
    await fs.writeFile(path.join(stage, 'config.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${raw}`, `sha256:${zeros}`] } }))
    await fs.writeFile(path.join(stage, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['big:1.0'], Layers: ['raw.tar', 'zeros.tar'] }]))
    await sh(`tar -cf ../big.tar config.json manifest.json raw.tar zeros.tar && rm raw.tar zeros.tar`)
    const bin = await installedBin()
    const { stderr } = await run('/usr/bin/time', ['-f', 'maxrss=%M', bin, 'build', path.join(dir, 'big.tar'), '--host', 'localhost', '--out', path.join(dir, 'site')], { cwd: dir })
    const maxRss = Number(/maxrss=(\d+)/.exec(stderr)![1]) * 1024
    expect(maxRss).toBeLessThan(256 * MiB)
    for (const hex of [raw, zeros]) expect((await fs.stat(path.join(dir, 'site', 'oci-cas', 'sha256', hex.slice(0, 2), hex))).size).toBe(256 * MiB)
    await fs.rm(dir, { recursive: true, force: true })
  }, 300_000)
})

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
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LayoutWriter } from '../src/oci/layout-writer.js'
import { skopeo, startPodman } from './helpers/clients.js'
import { dockerSave24, dockerSave25, type SavedImage } from './helpers/docker-save.js'
import { tarLayer, tempDir } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'

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
  const w = await LayoutWriter.create(dir)
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
    const plain = path.join(await tempDir(), 'plain')
    const kept = path.join(await tempDir(), 'kept')
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
    const dir = await tempDir()
    await run('tar', ['-xf', path.join(archives, `${name}.tar${name.endsWith('-gz') ? '.gz' : ''}`), '-C', dir])
    const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
    const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)
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
    const dir = await tempDir()
    await skopeo('copy', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', ref(`${name}:${tag}`), `oci:${path.join(dir, 'pulled')}:${tag}`)
    expect((await manifestOf(path.join(dir, 'pulled'))).digest).toBe(`sha256:${sha(await rawManifest(`${name}:${tag}`))}`)
    await run('umoci', ['unpack', '--rootless', '--image', `${path.join(dir, 'pulled')}:${tag}`, path.join(dir, 'bundle')])
    for (const [file, text] of Object.entries(files)) expect(await fs.readFile(path.join(dir, 'bundle', 'rootfs', file), 'utf8')).toBe(text)
    await fs.rm(dir, { recursive: true, force: true })
  }, 120_000)
})

describe('what docker archives cannot publish', () => {
  it('two images of one archive giving the same tag: exit 2 naming the tag, nothing written', async () => {
    const out = path.join(work, 'clash-site')
    const r = await installed(['build', path.join(work, 'podman-clash.tar'), '--host', 'localhost', '--out', out])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/TAG_CONFLICT.*podman-clash:1\.0 comes from .*podman-clash\.tar as sha256:\w+ and from .*podman-clash\.tar as sha256:\w+/)
    await expect(fs.stat(out)).rejects.toThrow()
  })

  it('an image saved by ID (no RepoTags) is untagged: alone it is nothing to publish, beside others a warning', async () => {
    const alone = await installed(['build', path.join(work, 'podman-untagged.tar'), '--host', 'localhost', '--out', path.join(work, 'untagged-site')])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toMatch(/NOTHING_TO_PUBLISH.*podman-untagged\.tar: no tags \(tags: none\)/)
    const cwd = await outsideDir()
    await fs.copyFile(path.join(work, 'podman-untagged.tar'), path.join(cwd, 'podman-untagged.tar'))
    const beside = await installed(['build', 'podman-untagged.tar', path.join(archives, 'skopeo-docker.tar'), '--host', 'localhost', '--out', 'site'], { cwd })
    expect(beside.code, beside.stderr).toBe(0)
    expect(beside.stderr).toContain('podman-untagged.tar: no tags to publish (tags: none)')
    expect(beside.stdout).toContain('localhost/skopeo-docker: 1.0')
  })
})

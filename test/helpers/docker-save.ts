// `docker save` archives built by hand, as the Docker engine writes them (there is no engine on
// the test machine). The reference is moby's image/tarexport/save.go:
//
// Docker 25 and later (save.go from v25.0.0; v26.1 dropped the platforms, v26.0 lists untagged
// images in index.json) write an OCI layout plus the legacy files, walked in name order by
// pkg/archive.Tar:
//   blobs/ blobs/sha256/
//   blobs/sha256/<diff_id hex>      each layer, the uncompressed tar
//   blobs/sha256/<image id hex>     the config, its raw JSON
//   blobs/sha256/<hex>              one legacy v1 config per layer (json.Marshal(V1Image)), unreferenced
//   blobs/sha256/<hex>              the OCI manifest (json.Marshal: config descriptor with a platform in 25.0)
//   index.json                      {"schemaVersion":2,"mediaType":…index…,"manifests":[{…,"annotations":
//                                   {"io.containerd.image.name":"docker.io/library/app:1.0",
//                                   "org.opencontainers.image.ref.name":"1.0"}(,"platform":{…} in 25.0)}]}
//   manifest.json                   [{"Config":"blobs/sha256/<hex>","RepoTags":["app:1.0"],
//                                   "Layers":["blobs/sha256/<hex>",…],"LayerSources":{…}}] + "\n"
//   oci-layout                      {"imageLayoutVersion": "1.0.0"}   (31 bytes, with its space)
//   repositories                    {"app":{"1.0":"<top diff_id hex>"}} + "\n"
// save.go from v25.0.0 on writes no symlink. The option `legacyDirs` adds what older engines
// wrote beside them: a directory per layer (`<v1 id>/VERSION`, `json`, and `layer.tar` as a
// symlink, here to `../blobs/sha256/<hex>`), which must be skipped.
//
// Docker 24 and earlier (save.go at v24.0.0) write the legacy docker-archive only:
//   <image id hex>.json             the config
//   <v1 id>/VERSION ("1.0"), <v1 id>/json, <v1 id>/layer.tar   (a layer seen before in the image
//                                   is a symlink `../<v1 id of the first>/layer.tar`)
//   manifest.json                   [{"Config":"<hex>.json","RepoTags":[…],"Layers":["<v1 id>/layer.tar",…]}] + "\n"
//   repositories
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import * as tar from 'tar'
import { tempDir } from './fixtures.js'

/** One image to save: its layers (uncompressed tars) and config fields, and its RepoTags (`app:1.0`). */
export interface SavedImage {
  layers: Buffer[]
  architecture: string
  repoTags: string[]
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** The config as dockerd stores it (its raw JSON is what is saved). */
function configOf(img: SavedImage): Buffer {
  const diffIds = img.layers.map((l) => `sha256:${sha(l)}`)
  return Buffer.from(
    JSON.stringify({
      architecture: img.architecture,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      created: '2024-01-01T00:00:00Z',
      history: img.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `RUN step ${i}` })),
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  )
}

/** A legacy v1 id (save.go derives it from the chain; any stable hex does for a reader). */
const v1Id = (img: SavedImage, i: number) => sha(`${img.layers.slice(0, i + 1).map((l) => sha(l)).join(' ')} ${img.architecture}`)

/** A familiar name's repository and tag: `app:1.0` → app, 1.0; its full name docker.io/library/app:1.0. */
function splitTag(repoTag: string): { repo: string; tag: string; full: string } {
  const at = repoTag.lastIndexOf(':')
  const repo = repoTag.slice(0, at)
  const full = repo.includes('/') ? (repo.split('/')[0]!.includes('.') ? repoTag : `docker.io/${repoTag}`) : `docker.io/library/${repoTag}`
  return { repo, tag: repoTag.slice(at + 1), full }
}

/** Tar a staged tree in name order (as pkg/archive.Tar walks it), directories with a trailing slash. */
async function tarTree(dir: string, file: string): Promise<void> {
  const all: string[] = []
  const walk = async (rel: string) => {
    for (const e of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${e.name}` : e.name
      all.push(r)
      if (e.isDirectory()) await walk(r)
    }
  }
  await walk('')
  await tar.c({ cwd: dir, file, portable: true, noDirRecurse: true, mtime: new Date(0) }, all)
}

/** The archive `docker save` of Docker 25 and later writes (see the header). */
export async function dockerSave25(images: SavedImage[], file: string, opts: { engine: '25.0' | '26.1'; legacyDirs?: boolean }): Promise<void> {
  const withPlatform = opts.engine === '25.0'
  const dir = await tempDir('ocisite-dockersave-')
  const blobs = path.join(dir, 'blobs', 'sha256')
  await fs.mkdir(blobs, { recursive: true })
  const put = (b: Buffer) => fs.writeFile(path.join(blobs, sha(b)), b)
  const manifestJson: unknown[] = []
  const index: unknown[] = []
  const repositories: Record<string, Record<string, string>> = {}
  for (const img of images) {
    const config = configOf(img)
    await put(config)
    const layers = img.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(l)}`, size: l.length }))
    for (const [i, l] of img.layers.entries()) {
      await put(l)
      await put(Buffer.from(JSON.stringify({ id: v1Id(img, i), ...(i > 0 ? { parent: v1Id(img, i - 1) } : {}), created: '1970-01-01T00:00:00Z', container_config: { Cmd: null }, os: 'linux' })))
      if (opts.legacyDirs) {
        await fs.mkdir(path.join(dir, v1Id(img, i)), { recursive: true })
        await fs.writeFile(path.join(dir, v1Id(img, i), 'VERSION'), '1.0')
        await fs.writeFile(path.join(dir, v1Id(img, i), 'json'), '{}')
        await fs.symlink(`../blobs/sha256/${sha(l)}`, path.join(dir, v1Id(img, i), 'layer.tar'))
      }
    }
    const platform = { architecture: img.architecture, os: 'linux' }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length, ...(withPlatform ? { platform } : {}) },
        layers,
      }),
    )
    await put(manifest)
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }
    for (const rt of img.repoTags) {
      const { repo, tag, full } = splitTag(rt)
      index.push({ ...desc, annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': tag }, ...(withPlatform ? { platform } : {}) })
      ;(repositories[repo] ??= {})[tag] = sha(img.layers.at(-1)!)
    }
    // From 26.0 an untagged image is listed, but only while the index is still empty (as save.go has it).
    if (img.repoTags.length === 0 && index.length === 0 && !withPlatform) index.push(desc)
    const sources = Object.fromEntries(layers.map((l) => [l.digest, { mediaType: l.mediaType, size: l.size, digest: l.digest }]))
    manifestJson.push({ Config: `blobs/sha256/${sha(config)}`, RepoTags: img.repoTags, Layers: layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`), LayerSources: sources })
  }
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index }))
  await fs.writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifestJson)}\n`)
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion": "1.0.0"}')
  if (Object.keys(repositories).length > 0) await fs.writeFile(path.join(dir, 'repositories'), `${JSON.stringify(repositories)}\n`)
  await tarTree(dir, file)
  await fs.rm(dir, { recursive: true, force: true })
}

/** The legacy archive `docker save` of Docker 24 and earlier writes (see the header). */
export async function dockerSave24(images: SavedImage[], file: string): Promise<void> {
  const dir = await tempDir('ocisite-dockersave-')
  const manifestJson: unknown[] = []
  const repositories: Record<string, Record<string, string>> = {}
  for (const img of images) {
    const config = configOf(img)
    await fs.writeFile(path.join(dir, `${sha(config)}.json`), config)
    const first = new Map<string, string>()
    const layers: string[] = []
    for (const [i, l] of img.layers.entries()) {
      const id = v1Id(img, i)
      await fs.mkdir(path.join(dir, id))
      await fs.writeFile(path.join(dir, id, 'VERSION'), '1.0')
      await fs.writeFile(path.join(dir, id, 'json'), JSON.stringify({ id, ...(i > 0 ? { parent: v1Id(img, i - 1) } : {}), created: '1970-01-01T00:00:00Z', os: 'linux' }))
      const seen = first.get(sha(l))
      if (seen) await fs.symlink(`../${seen}/layer.tar`, path.join(dir, id, 'layer.tar'))
      else await fs.writeFile(path.join(dir, id, 'layer.tar'), l)
      if (!seen) first.set(sha(l), id)
      layers.push(`${id}/layer.tar`)
    }
    for (const rt of img.repoTags) (repositories[splitTag(rt).repo] ??= {})[splitTag(rt).tag] = v1Id(img, img.layers.length - 1)
    manifestJson.push({ Config: `${sha(config)}.json`, RepoTags: img.repoTags, Layers: layers })
  }
  await fs.writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifestJson)}\n`)
  if (Object.keys(repositories).length > 0) await fs.writeFile(path.join(dir, 'repositories'), `${JSON.stringify(repositories)}\n`)
  await tarTree(dir, file)
  await fs.rm(dir, { recursive: true, force: true })
}

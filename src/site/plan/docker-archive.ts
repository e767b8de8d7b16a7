// The legacy docker-archive format (`docker save` before Docker 25, `podman save --format
// docker-archive`, `skopeo copy … docker-archive:`): a manifest.json listing each image's config
// file, RepoTags and layer tars, with no OCI layout. It is converted into an OCI layout as
// `skopeo copy docker-archive:X oci:DIR:TAG` converts it (skopeo 1.9.3, containers/image 5.23):
// - the config is the docker config re-encoded as an OCI one, as skopeo does it (docker-config.ts),
//   `application/vnd.oci.image.config.v1+json`;
// - each layer is the uncompressed tar whose digest is its config diff_id (a gzip layer file is
//   inflated, as skopeo's source does; an uncompressed one is linked, never copied);
// - the manifest is {schemaVersion, mediaType, config, layers}, each descriptor {mediaType,
//   digest, size}, with no spaces: the bytes Go's encoding/json writes for skopeo.
// One deliberate difference: skopeo labels these uncompressed layers `…tar+gzip` (the docker
// source's media type, kept), which readers that trust the label (umoci, `ocisite get`) cannot
// unpack; here they are `application/vnd.oci.image.layer.v1.tar`. Skopeo's own default, gzip
// layers, is a re-compression no other program reproduces.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { OcisiteError } from '../../errors.js'
import { byteLimit } from '../../fs/tar-safety.js'
import { ensureDir, FILE_MODE, linkAtomic, lstatOrUndefined, readSmall, replaceAtomically } from '../../fs/atomic.js'
import { REF_NAME, tagFromRefName, type Descriptor } from '../../oci/descriptor.js'
import { createDigester, parseDigest, type Digest } from '../../oci/digest.js'
import { ociConfigOf } from '../../oci/docker-config.js'
import { jsonDepth, MAX_CONFIG_BYTES, MAX_JSON_BYTES, MAX_JSON_DEPTH } from '../../oci/json.js'
import { OciLayout } from '../../content/layout/oci-layout.js'
import { MediaType } from '../../oci/media-types.js'

/** Layers are read and inflated a MiB at a time: few calls per GiB, and flat memory. */
const CHUNK = 1024 * 1024

/** An uncompressed layer, labelled as what it is. */
const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar'

/** One image of manifest.json. */
interface ArchiveImage {
  config: string
  repoTags: string[]
  layers: string[]
}

/** How a converted archive is named in messages, and where its members are. */
interface Archive {
  /** The extracted archive. */
  root: string
  /** Its symlinks, by member name (see ExtractedArchive). */
  links: ReadonlyMap<string, string>
  label: string
  /** Largest layer a gzip layer file may inflate to. */
  maxSize: number
}

/** What an extracted archive holds: an OCI layout (first, as Docker 25 and later write both), a docker-archive, or neither. */
export function archiveKind(root: string, links: ReadonlyMap<string, string>): 'oci' | 'docker' | undefined {
  if (lstatOrUndefined(path.join(root, 'oci-layout'))) return 'oci'
  return lstatOrUndefined(path.join(root, 'manifest.json')) || links.has('manifest.json') ? 'docker' : undefined
}

/**
 * Convert the extracted docker-archive at `root` into an OCI layout at `out`: one manifest per
 * manifest.json entry, tagged with the tag of each of its RepoTags (an image without RepoTags,
 * saved by ID, is left untagged).
 */
export async function convertDockerArchive(root: string, links: ReadonlyMap<string, string>, out: string, label: string, maxSize: number): Promise<void> {
  const archive: Archive = { root, links, label, maxSize }
  const images = readManifestJson(archive)
  const w = await OciLayout.create(out)
  const layers = new Map<string, number>()
  const index: Descriptor[] = []
  for (const [i, image] of images.entries()) {
    const where = `${label} (manifest.json [${i}])`
    const oci = ociConfigOf(readMember(archive, image.config, where, MAX_CONFIG_BYTES), `${label} (${image.config})`)
    const diffIds = oci.diffIds.map((d) => parseDigest(d, `${label} (${image.config}) rootfs.diff_ids`))
    if (diffIds.length !== image.layers.length) {
      throw new OcisiteError('LAYOUT_INVALID', `${where}: lists ${image.layers.length} layers, but config ${image.config} has ${diffIds.length} diff_ids`)
    }
    const descriptors: Descriptor[] = []
    for (const [j, diffId] of diffIds.entries()) {
      let size = layers.get(diffId.value)
      if (size === undefined) layers.set(diffId.value, (size = await ingestLayer(archive, image.layers[j]!, diffId, w, where)))
      descriptors.push({ mediaType: LAYER_TAR, digest: diffId.value, size })
    }
    const config = await w.putBytes(oci.bytes, MediaType.ociConfig)
    const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descriptors }
    const desc = await w.putBytes(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest)
    const tags = new Set(image.repoTags.map((t) => tagFromRefName(t, `${where} RepoTags`)))
    if (tags.size === 0) index.push(desc)
    // Two images may give the same tag (app:1.0 and db:1.0): both are listed, and the plan names the conflict unless --tags leaves one out.
    for (const tag of tags) index.push({ ...desc, annotations: { [REF_NAME]: tag } })
  }
  await w.writeIndex(index)
}

/** manifest.json: a JSON array of {Config, RepoTags, Layers}, checked. */
function readManifestJson(archive: Archive): ArchiveImage[] {
  const where = `${archive.label} (manifest.json)`
  const bytes = readMember(archive, 'manifest.json', archive.label, MAX_JSON_BYTES)
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new OcisiteError('JSON_INVALID', `${where}: JSON nested deeper than ${MAX_JSON_DEPTH} levels`)
  let list: unknown
  try {
    list = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new OcisiteError('JSON_INVALID', `${where}: invalid JSON (${(err as Error).message})`, {}, { cause: err })
  }
  if (!Array.isArray(list) || list.length === 0) throw new OcisiteError('LAYOUT_INVALID', `${where}: not a list of images (want [{"Config", "RepoTags", "Layers"}, …])`)
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string')
  return list.map((item: Record<string, unknown> | null, i) => {
    const ok = typeof item === 'object' && item !== null && typeof item.Config === 'string' && strings(item.Layers) && (item.RepoTags == null || strings(item.RepoTags))
    if (!ok) throw new OcisiteError('LAYOUT_INVALID', `${where}: image [${i}] needs "Config" (a file name), "Layers" (file names) and "RepoTags" (names, or none)`)
    return { config: item.Config as string, repoTags: (item.RepoTags as string[] | null) ?? [], layers: item.Layers as string[] }
  })
}

/**
 * A member named by manifest.json, as a file under `root`: its symlinks (a path component or the
 * whole name) are followed as recorded, and never lead out of the archive.
 */
function resolveMember(archive: Archive, name: string, where: string): string {
  const normal = path.posix.normalize(name.replace(/\\/g, '/'))
  if (path.posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../')) throw new OcisiteError('ARCHIVE_UNSAFE', `${where}: "${name}" escapes the archive`)
  let parts = normal.split('/').filter((p) => p !== '' && p !== '.')
  for (let hops = 0; ; ) {
    const at = parts.findIndex((_, i) => archive.links.has(parts.slice(0, i + 1).join('/')))
    if (at < 0) break
    if (++hops > 40) throw new OcisiteError('LAYOUT_INVALID', `${where}: "${name}" goes through more than 40 symlinks`)
    const target = archive.links.get(parts.slice(0, at + 1).join('/'))!
    parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts.slice(at + 1)]
  }
  const file = path.join(archive.root, ...parts)
  if (!lstatOrUndefined(file)?.isFile()) throw new OcisiteError('LAYOUT_INVALID', `${where}: "${name}" is not a file in the archive`, { file: name })
  return file
}

/** A small member (manifest.json, a config) read whole, at most `maxBytes`. */
function readMember(archive: Archive, name: string, where: string, maxBytes: number): Buffer {
  const file = resolveMember(archive, name, where)
  const size = Number(lstatOrUndefined(file)!.size)
  if (size > maxBytes) throw new OcisiteError('JSON_INVALID', `${archive.label} (${name}): ${size} bytes, over the ${maxBytes}-byte limit`)
  return readSmall(file, size, () => new OcisiteError('LAYOUT_INVALID', `${archive.label} (${name}): changed while it was read`))
}

/** What a layer file starts with, as containers/image's AutoDecompress tells them apart. */
async function compressionOf(file: string): Promise<'gzip' | 'zstd' | 'xz' | 'bzip2' | undefined> {
  const fh = await fs.open(file, 'r')
  try {
    const { buffer: b, bytesRead } = await fh.read(Buffer.alloc(6), 0, 6, 0)
    const starts = (...bytes: number[]) => bytesRead >= bytes.length && bytes.every((x, i) => b[i] === x)
    if (starts(0x1f, 0x8b)) return 'gzip'
    if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd'
    if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz'
    if (starts(0x42, 0x5a, 0x68)) return 'bzip2'
    return undefined
  } finally {
    await fh.close()
  }
}

/**
 * Put one layer into the layout as the uncompressed tar its diff_id names, streaming: an
 * uncompressed file is hashed and linked; a gzip one is inflated into place while hashed. Either
 * must hash to the diff_id. Returns its size.
 */
async function ingestLayer(archive: Archive, name: string, diffId: Digest, w: OciLayout, where: string): Promise<number> {
  const file = resolveMember(archive, name, where)
  const compression = await compressionOf(file)
  const mismatch = (actual: string) =>
    new OcisiteError('DIGEST_MISMATCH', `${where}: layer "${name}" has digest ${actual}, but the image config's diff_id is ${diffId.value}`, { digest: diffId.value, file: name })
  const blob = w.paths.blob(diffId)
  if (compression === undefined) {
    const { size, digest } = await hashed(diffId, [createReadStream(file, { highWaterMark: CHUNK })])
    if (digest !== diffId.value) throw mismatch(digest)
    await linkAtomic(file, blob).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV') throw err
      await replaceAtomically(blob, (tmp) => fs.copyFile(file, tmp))
    })
    return size
  }
  if (compression !== 'gzip') {
    throw new OcisiteError('LAYOUT_INVALID', `${where}: layer "${name}" is ${compression}-compressed; docker archives are read with uncompressed or gzip layers`, { file: name })
  }
  let size = 0
  await ensureDir(path.dirname(blob))
  await replaceAtomically(blob, async (tmp) => {
    let tooLarge = false
    const result = await hashed(diffId, [createReadStream(file, { highWaterMark: CHUNK }), createGunzip({ chunkSize: CHUNK }), byteLimit(archive.maxSize, () => (tooLarge = true))], tmp).catch((err: unknown) => {
      if (tooLarge) throw new OcisiteError('TOO_LARGE', `${where}: layer "${name}" inflates past ${archive.maxSize} bytes (the --max-archive-size limit)`)
      throw new OcisiteError('LAYOUT_INVALID', `${where}: layer "${name}" is not valid gzip (${(err as Error).message})`, { file: name }, { cause: err })
    })
    if (result.digest !== diffId.value) throw mismatch(result.digest)
    size = result.size
  })
  return size
}

/** Run a stream through `stages`, hashing and counting what comes out (and writing it to `into`, a new file, when given): flat memory whatever the size. */
async function hashed(algorithm: Digest, stages: Array<Readable | Transform>, into?: string): Promise<{ size: number; digest: string }> {
  const hash = createDigester(algorithm.algorithm)
  let size = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk)
      size += chunk.byteLength
      done(null, chunk)
    },
  })
  const sink = into ? createWriteStream(into, { flags: 'wx', mode: FILE_MODE }) : new Writable({ write: (_chunk, _enc, done) => done() })
  await pipeline([...stages, tap, sink])
  return { size, digest: `${algorithm.algorithm}:${hash.digest('hex')}` }
}

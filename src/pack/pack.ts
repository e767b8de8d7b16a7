import { promises as fs } from 'node:fs'
import path from 'node:path'
import * as tar from 'tar'
import { OcisiteError } from '../errors.js'
import { REF_NAME, type Descriptor } from '../oci/descriptor.js'
import { parseDigest } from '../oci/digest.js'
import { OciLayout } from '../content/layout/oci-layout.js'
import { MediaType } from '../oci/media-types.js'
import { checkTag } from '../oci/names.js'

/** The OCI image-spec 1.1 empty descriptor's blob, `{}`. */
export const EMPTY_CONFIG: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2, data: 'e30=' }
/** What oras gives a file layer, and an artifact with no type. */
export const DEFAULT_LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar'
export const DEFAULT_ARTIFACT_TYPE = 'application/vnd.unknown.artifact.v1'
export const TAR_GZIP_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const TITLE = 'org.opencontainers.image.title'
export const CREATED = 'org.opencontainers.image.created'

export type Preset = 'rsgo-stack' | 'doco' | 'aicr'
export const presets: Preset[] = ['rsgo-stack', 'doco', 'aicr']

export interface PackOptions {
  /** Files (`FILE` or `FILE:MEDIATYPE`), or with `tar` one directory. */
  paths: string[]
  /** The OCI layout to write (created, or merged into). */
  out: string
  tag: string
  artifactType?: string
  /** Pack one directory as a single deterministic tar+gzip layer. */
  tar?: boolean
  annotations?: Record<string, string>
  /** The manifest this artifact refers to (makes it a referrer). */
  subject?: Descriptor
  preset?: Preset
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH); default 0, and no `created` annotation. */
  sourceDateEpoch?: number
  cwd?: string
}

export interface PackResult {
  layout: string
  tag: string
  digest: string
  size: number
  artifactType: string
  layers: Array<{ title: string; mediaType: string; digest: string; size: number }>
}

interface LayerSpec {
  file: string
  title: string
  mediaType: string
  /** A directory, packed as one tar+gzip layer. */
  directory: boolean
}

function splitMediaType(spec: string): { file: string; mediaType?: string } {
  // FILE:MEDIATYPE as oras writes it; a media type has a "/" and no path separators after it.
  const m = /^(.*[^:]):([a-z0-9][\w.+-]*\/[\w.+-]+)$/i.exec(spec)
  return m ? { file: m[1]!, mediaType: m[2]! } : { file: spec }
}

async function kind(file: string): Promise<'file' | 'dir'> {
  const st = await fs.stat(file).catch(() => undefined)
  if (!st) throw new OcisiteError('INPUT_NOT_FOUND', `${file}: no such file or directory`, { file })
  if (st.isDirectory()) return 'dir'
  if (st.isFile()) return 'file'
  throw new OcisiteError('INPUT_NOT_FOUND', `${file}: not a regular file or directory`, { file })
}

const exists = (file: string) => fs.stat(file).then((s) => s.isFile(), () => false)

/** Apply a preset: which files, which media types and artifact type, and what must be there. */
async function presetLayers(preset: Preset, paths: string[], cwd: string): Promise<{ layers: LayerSpec[]; artifactType: string; tar: boolean }> {
  const only = paths.length === 1 ? path.resolve(cwd, paths[0]!) : undefined
  const where = (name: string) => `--preset ${preset}: ${name}`
  if (preset === 'rsgo-stack') {
    // ReadyStackGo's stack bundle: stack.yaml (required), lock.json and meta.json, each with its media type.
    const dir = only && (await kind(only)) === 'dir' ? only : undefined
    const find = async (names: string[]) => {
      for (const n of names) {
        const f = dir ? path.join(dir, n) : paths.map((p) => path.resolve(cwd, p)).find((p) => path.basename(p) === n)
        if (f && (await exists(f))) return f
      }
      return undefined
    }
    const stack = await find(['stack.yaml', 'stack.yml'])
    if (!stack) throw new OcisiteError('INPUT_NOT_FOUND', `${where('stack.yaml')} is missing${dir ? ` in ${dir}` : ''}; a stack bundle needs it`, { file: 'stack.yaml' })
    const layers: LayerSpec[] = [{ file: stack, title: path.basename(stack), mediaType: 'application/vnd.rsgo.stack.manifest.v1+yaml', directory: false }]
    const lock = await find(['lock.json'])
    if (lock) layers.push({ file: lock, title: 'lock.json', mediaType: 'application/vnd.rsgo.stack.lock.v1+json', directory: false })
    const meta = await find(['meta.json'])
    if (meta) layers.push({ file: meta, title: 'meta.json', mediaType: 'application/vnd.rsgo.stack.meta.v1+json', directory: false })
    return { layers, artifactType: DEFAULT_ARTIFACT_TYPE, tar: false }
  }
  if (!only || (await kind(only)) !== 'dir') throw new OcisiteError('CONFIG_INVALID', `${where('name one directory to pack')}`)
  if (preset === 'doco') {
    // doco-cd's doco.v1 layout: a directory with .doco-cd.yaml (or .yml) at its root.
    if (!(await exists(path.join(only, '.doco-cd.yaml'))) && !(await exists(path.join(only, '.doco-cd.yml')))) {
      throw new OcisiteError('INPUT_NOT_FOUND', `${where('.doco-cd.yaml')} is missing at the root of ${only}; a doco.v1 artifact needs it`, { file: '.doco-cd.yaml' })
    }
    return { layers: [{ file: only, title: path.basename(only), mediaType: TAR_GZIP_TYPE, directory: true }], artifactType: DEFAULT_ARTIFACT_TYPE, tar: true }
  }
  // NVIDIA AICR: a bundle directory, with AICR's artifact type.
  return { layers: [{ file: only, title: path.basename(only), mediaType: TAR_GZIP_TYPE, directory: true }], artifactType: 'application/vnd.nvidia.aicr.artifact', tar: true }
}

/**
 * A directory as one reproducible tar+gzip: entries sorted, owner 0, modes 0644 or 0755 (from
 * the owner's execute bit) and 0755 for directories, symlinks kept as links, every mtime fixed.
 */
export async function deterministicTarGz(dir: string, mtime: Date): Promise<Buffer> {
  const entries: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const e of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const child = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) {
        entries.push(`${child}/`)
        await walk(child)
      } else if (e.isFile() || e.isSymbolicLink()) entries.push(child)
      else throw new OcisiteError('INPUT_NOT_FOUND', `${path.join(dir, child)}: not a regular file, directory or symlink; only those are packed`, { file: path.join(dir, child) })
    }
  }
  await walk('')
  const chunks: Buffer[] = []
  const stream = tar.c(
    {
      cwd: dir,
      gzip: { level: 9 },
      portable: true,
      noDirRecurse: true,
      mtime,
      linkCache: new Map(),
      onWriteEntry: (entry) => {
        const st = entry.stat as { mode: number; isDirectory(): boolean; isSymbolicLink(): boolean } | undefined
        if (!st) return
        const type = st.mode & 0o170000
        st.mode = type | (st.isDirectory() ? 0o755 : st.isSymbolicLink() ? 0o777 : st.mode & 0o100 ? 0o755 : 0o644)
        entry.mtime = mtime
        entry.noMtime = false
      },
    },
    entries.map((e) => e.replace(/\/$/, '')),
  )
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks)
}

/** Write files (or a directory) as an OCI 1.1 artifact into a layout, tagged. */
export async function pack(options: PackOptions): Promise<PackResult> {
  const cwd = path.resolve(options.cwd ?? process.cwd())
  checkTag(options.tag, '--tag')
  if (options.paths.length === 0) throw new OcisiteError('CONFIG_INVALID', 'pack: name the files (or, with --tar, the directory) to pack')
  const epoch = options.sourceDateEpoch ?? 0
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new OcisiteError('CONFIG_INVALID', `SOURCE_DATE_EPOCH ${epoch} is not a number of seconds`)
  let layers: LayerSpec[]
  let artifactType = options.artifactType
  if (options.preset) {
    const p = await presetLayers(options.preset, options.paths, cwd)
    layers = p.layers
    artifactType ??= p.artifactType
  } else if (options.tar) {
    if (options.paths.length !== 1) throw new OcisiteError('CONFIG_INVALID', '--tar packs one directory; name exactly one')
    const dir = path.resolve(cwd, options.paths[0]!)
    if ((await kind(dir)) !== 'dir') throw new OcisiteError('CONFIG_INVALID', `--tar: ${dir} is not a directory`)
    layers = [{ file: dir, title: path.basename(dir), mediaType: TAR_GZIP_TYPE, directory: true }]
  } else {
    layers = []
    for (const spec of options.paths) {
      const { file, mediaType } = splitMediaType(spec)
      const abs = path.resolve(cwd, file)
      if ((await kind(abs)) === 'dir') throw new OcisiteError('CONFIG_INVALID', `${abs} is a directory: pack it with --tar, or name its files`, { file: abs })
      layers.push({ file: abs, title: path.basename(abs), mediaType: mediaType ?? DEFAULT_LAYER_TYPE, directory: false })
    }
  }
  const titles = new Set<string>()
  for (const l of layers) {
    if (titles.has(l.title)) throw new OcisiteError('CONFIG_INVALID', `two layers would be titled "${l.title}"; rename one`, { file: l.file })
    titles.add(l.title)
  }

  const out = path.resolve(cwd, options.out)
  const outStat = await fs.stat(out).catch(() => undefined)
  if (outStat && !outStat.isDirectory()) throw new OcisiteError('CONFIG_INVALID', `--out ${out} is a file; name a layout directory (created if missing)`, { file: out })
  const writer = await OciLayout.create(out)
  const written: Descriptor[] = []
  for (const l of layers) {
    const bytes = l.directory ? await deterministicTarGz(l.file, new Date(epoch * 1000)) : await fs.readFile(l.file)
    written.push(await writer.putBytes(bytes, l.mediaType, { annotations: { [TITLE]: l.title } }))
  }
  await writer.putBytes(Buffer.from('{}'), EMPTY_CONFIG.mediaType)
  const annotations: Record<string, string> = { ...(options.sourceDateEpoch !== undefined ? { [CREATED]: new Date(epoch * 1000).toISOString().replace('.000Z', 'Z') } : {}), ...(options.annotations ?? {}) }
  if (options.preset === 'aicr') annotations['org.opencontainers.image.version'] ??= options.tag
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: artifactType ?? DEFAULT_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: written,
    ...(options.subject ? { subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size } } : {}),
    ...(Object.keys(annotations).length ? { annotations: Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
  }
  const desc = await writer.putJson(manifest, MediaType.ociManifest, { artifactType: manifest.artifactType })
  await writer.addToIndex(desc, options.tag)
  return {
    layout: writer.paths.root,
    tag: options.tag,
    digest: desc.digest,
    size: desc.size,
    artifactType: manifest.artifactType,
    layers: written.map((l) => ({ title: l.annotations![TITLE]!, mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }
}

/** A subject given as a digest or a tag of the layout being written: its descriptor, from the layout. */
export async function subjectInLayout(out: string, ref: string): Promise<Descriptor> {
  const layout = await OciLayout.open(out).catch(() => {
    throw new OcisiteError('INPUT_NOT_FOUND', `--subject ${ref}: ${out} is not a layout yet; pack the subject into it first`)
  })
  const { manifests } = await layout.index(true)
  const byTag = manifests.find((m) => m.annotations?.[REF_NAME] === ref.replace(/^#/, ''))
  if (byTag) return { mediaType: byTag.mediaType, digest: byTag.digest, size: byTag.size }
  const digest = parseDigest(ref, `--subject ${ref}`)
  const st = await fs.stat(layout.paths.blob(digest)).catch(() => undefined)
  if (!st) throw new OcisiteError('BLOB_MISSING', `--subject ${ref}: no such tag or manifest in ${out}`, { digest: digest.value })
  const bytes = await layout.readBlob({ digest: digest.value, size: st.size })
  const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: string }
  return { mediaType: body.mediaType ?? MediaType.ociManifest, digest: digest.value, size: bytes.byteLength }
}

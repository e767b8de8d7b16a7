import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { parseJsonObject } from '../oci/json.js'
import { parseHost } from '../oci/image-name.js'
import { buildDefaults } from '../defaults.js'
import type { ProgressListener } from './progress.js'


/** One image to publish: a layout, an archive, or a directory searched for them. */
export interface ImageSpec {
  /** Image path (`org/app`); for a searched directory, a prefix for what it finds. */
  path?: string
  /** A layout directory, an OCI archive, or a directory to search. */
  from: string
  /** Tag globs (`v*`); empty means every tagged entry. */
  tags?: string[]
}

/** Options for `build`, as a caller gives them. Paths are relative to `cwd`. */
export interface BuildOptions {
  inputs?: string[]
  host?: string
  out?: string
  /** A config file; `ocisite.json` in `cwd` is read when present and this is unset. */
  config?: string
  tags?: string[]
  baseUrl?: string
  /** Where to write the generated nginx config. */
  nginx?: string
  listen?: string
  tlsCert?: string
  tlsKey?: string
  /** Write the static /v2/ distribution tree (default true). */
  v2?: boolean
  /** Write a `_headers` file for Netlify and Cloudflare Pages (default false). */
  headersFile?: boolean
  cwd?: string
  onProgress?: ProgressListener
}

/** Build options after defaults, the config file and validation. All paths absolute. */
export interface NormalizedBuildOptions {
  host: string
  out: string
  baseUrl: string | undefined
  images: Array<Required<ImageSpec> & { explicitPath: boolean }>
  nginx: { file: string | undefined; listen: string; tlsCert: string | undefined; tlsKey: string | undefined }
  v2: boolean
  headersFile: boolean
  onProgress: ProgressListener | undefined
}

interface ConfigFile {
  host?: string
  out?: string
  baseUrl?: string
  v2?: boolean
  headersFile?: boolean
  inputs?: string[]
  tags?: string[]
  nginx?: { file?: string; listen?: string | number; tlsCert?: string; tlsKey?: string }
  images?: ImageSpec[]
}

async function readConfig(file: string, explicit: boolean): Promise<ConfigFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch {
    if (explicit) throw new OcisiteError('CONFIG_INVALID', `${file}: config file not found`, { file })
    return undefined
  }
  const doc = parseJsonObject(bytes, file) as ConfigFile
  const fail = (what: string) => new OcisiteError('CONFIG_INVALID', `${file}: ${what}`, { file })
  for (const key of ['host', 'out', 'baseUrl'] as const) if (doc[key] !== undefined && typeof doc[key] !== 'string') throw fail(`"${key}" must be a string`)
  if (doc.images !== undefined) {
    if (!Array.isArray(doc.images)) throw fail('"images" must be an array')
    doc.images.forEach((img, i) => {
      if (typeof img !== 'object' || img === null || typeof img.from !== 'string') throw fail(`images[${i}].from must be a string`)
      if (img.path !== undefined && typeof img.path !== 'string') throw fail(`images[${i}].path must be a string`)
      if (img.tags !== undefined && (!Array.isArray(img.tags) || img.tags.some((t) => typeof t !== 'string'))) throw fail(`images[${i}].tags must be an array of strings`)
    })
  }
  return doc
}

function checkBaseUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new OcisiteError('CONFIG_INVALID', `--base-url "${url}" is not an absolute URL`)
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new OcisiteError('CONFIG_INVALID', `--base-url "${url}" must be http or https`)
  return url.replace(/\/+$/, '')
}

/** Merge defaults, the config file and caller options (which win) into one checked shape. */
export async function normalizeBuildOptions(opts: BuildOptions): Promise<NormalizedBuildOptions> {
  const cwd = path.resolve(opts.cwd ?? process.cwd())
  const configFile = path.resolve(cwd, opts.config ?? buildDefaults.config)
  const config = (await readConfig(configFile, opts.config !== undefined)) ?? {}
  const configDir = path.dirname(configFile)
  const fromConfig = (p: string | undefined) => (p === undefined ? undefined : path.resolve(configDir, p))

  const host = opts.host ?? config.host
  if (!host) throw new OcisiteError('CONFIG_INVALID', 'no host: pass --host example.com or set "host" in ocisite.json')
  parseHost(host, '--host')

  const cliTags = opts.tags ?? []
  const images: NormalizedBuildOptions['images'] = []
  for (const img of config.images ?? []) {
    images.push({ from: fromConfig(img.from)!, path: img.path ?? '', tags: img.tags ?? config.tags ?? cliTags, explicitPath: img.path !== undefined })
  }
  for (const input of config.inputs ?? []) images.push({ from: fromConfig(input)!, path: '', tags: config.tags ?? cliTags, explicitPath: false })
  for (const input of opts.inputs ?? []) images.push({ from: path.resolve(cwd, input), path: '', tags: cliTags, explicitPath: false })
  if (images.length === 0) throw new OcisiteError('NOTHING_TO_PUBLISH', 'no inputs: name layout directories or archives, or list "images" in ocisite.json')

  const out = opts.out !== undefined ? path.resolve(cwd, opts.out) : (fromConfig(config.out) ?? path.resolve(cwd, buildDefaults.out))
  const baseUrl = opts.baseUrl ?? config.baseUrl
  const nginxFile = opts.nginx !== undefined ? path.resolve(cwd, opts.nginx) : fromConfig(config.nginx?.file)
  if (nginxFile && !path.relative(out, nginxFile).startsWith('..')) {
    throw new OcisiteError('CONFIG_INVALID', `--nginx ${nginxFile} is inside the served tree ${out}; write it elsewhere`)
  }
  const tlsCert = opts.tlsCert ?? fromConfig(config.nginx?.tlsCert)
  const tlsKey = opts.tlsKey ?? fromConfig(config.nginx?.tlsKey)
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new OcisiteError('CONFIG_INVALID', 'TLS needs both --tls-cert and --tls-key')
  return {
    host: host.toLowerCase(),
    out,
    baseUrl: baseUrl === undefined ? undefined : checkBaseUrl(baseUrl),
    images,
    nginx: { file: nginxFile, listen: String(opts.listen ?? config.nginx?.listen ?? buildDefaults.listen), tlsCert, tlsKey },
    v2: opts.v2 ?? config.v2 ?? buildDefaults.v2,
    headersFile: opts.headersFile ?? config.headersFile ?? buildDefaults.headersFile,
    onProgress: opts.onProgress,
  }
}

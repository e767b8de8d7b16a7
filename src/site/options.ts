import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { parseHost } from '../oci/image-name.js'
import { buildDefaults } from '../defaults.js'
import { defaultConcurrency } from '../content/copy.js'
import type { ProgressListener } from './progress.js'
import { readConfigFile, type ImageSpec, type ListenSetting, type NginxSettings } from './config-file.js'
import { parseListen, type ListenAddress } from './serve/listen.js'
import { normalizeSiteAuth, type SiteAuth } from './serve/auth.js'
import type { SigningOptions } from './sign/signing.js'

export type { ImageSpec } from './config-file.js'

/** Options for `build`, as a caller gives them. Paths are relative to `cwd`. */
export interface BuildOptions extends SigningOptions, NginxSettings<string | string[]> {
  inputs?: string[]
  host?: string
  out?: string
  /** A config file; `ocisite.json` in `cwd` is read when present and this is unset. */
  config?: string
  tags?: string[]
  baseUrl?: string
  /** Where to write the generated nginx config. */
  nginx?: string
  /** Write the static /v2/ distribution tree (default true). */
  v2?: boolean
  /** Write a `_headers` file for Netlify and Cloudflare Pages (default false). */
  headersFile?: boolean
  /** Write the HTML pages: a home page and a page per image (default true). */
  html?: boolean
  /** Publish into a non-empty directory that is not an ocisite site (its files are left alone). */
  force?: boolean
  /** The most uncompressed bytes an input archive may hold (default 8 GiB). */
  maxArchiveSize?: number
  /** Blobs copied at once (default: from the CPU count). */
  concurrency?: number
  /** Re-hash every blob, trusting no cached verification. */
  verify?: boolean
  /** Wait for another writer's lock (default true); false fails at once. */
  wait?: boolean
  /** Plan and compare only: report what would be published, unpublished and deleted, and write nothing. */
  dryRun?: boolean
  cwd?: string
  onProgress?: ProgressListener
}

/** The nginx config to write, with every address and path checked. */
export interface NginxOptions {
  file: string | undefined
  root: string
  listen: ListenAddress[]
  httpListen: ListenAddress[]
  tls: { cert: string; key: string } | undefined
  acmeRoot: string | undefined
  /** HTTP Basic authentication, or undefined for a public site. */
  auth: SiteAuth | undefined
}

/** Build options after defaults, the config file and validation. All paths absolute. */
export interface NormalizedBuildOptions {
  host: string
  out: string
  baseUrl: string | undefined
  images: Array<Required<ImageSpec> & { explicitPath: boolean }>
  nginx: NginxOptions
  v2: boolean
  headersFile: boolean
  html: boolean
  force: boolean
  wait: boolean
  maxArchiveSize: number
  concurrency: number
  verify: boolean
  dryRun: boolean
  onProgress: ProgressListener | undefined
}

function checkBaseUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new OcisiteError('CONFIG_INVALID', `--base-url "${url}" is not an absolute URL`, {}, { cause: err })
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new OcisiteError('CONFIG_INVALID', `--base-url "${url}" must be http or https`)
  return url.replace(/\/+$/, '')
}

/**
 * Merge the caller's options (flags), the config file and the defaults into one checked shape:
 * the one place of precedence, flag > ocisite.json > default. An option left undefined falls through.
 */
export async function normalizeBuildOptions(opts: BuildOptions): Promise<NormalizedBuildOptions> {
  const cwd = path.resolve(opts.cwd ?? process.cwd())
  const configFile = path.resolve(cwd, opts.config ?? buildDefaults.config)
  const config = (await readConfigFile(configFile, opts.config !== undefined)) ?? {}
  const configDir = path.dirname(configFile)
  const fromConfig = (p: string | undefined) => (p === undefined ? undefined : path.resolve(configDir, p))

  const host = opts.host ?? config.host
  if (!host) throw new OcisiteError('CONFIG_INVALID', 'no host: pass --host example.com or set "host" in ocisite.json')
  parseHost(host, '--host', 'the port belongs to where the site is served: --base-url http://HOST:PORT for absolute engine URLs, --listen PORT for the nginx config')

  // --tags (flag) wins over an image's own tags and the file's, which win over every tag.
  const tagsFor = (img?: ImageSpec) => opts.tags ?? img?.tags ?? config.tags ?? []
  const images: NormalizedBuildOptions['images'] = []
  for (const img of config.images ?? []) images.push({ from: fromConfig(img.from)!, path: img.path ?? '', tags: tagsFor(img), explicitPath: img.path !== undefined })
  for (const input of config.inputs ?? []) images.push({ from: fromConfig(input)!, path: '', tags: tagsFor(), explicitPath: false })
  for (const input of opts.inputs ?? []) images.push({ from: path.resolve(cwd, input), path: '', tags: tagsFor(), explicitPath: false })
  if (images.length === 0) throw new OcisiteError('NOTHING_TO_PUBLISH', 'no inputs: name layout directories or archives, or list "images" in ocisite.json')

  const out = opts.out !== undefined ? path.resolve(cwd, opts.out) : (fromConfig(config.out) ?? path.resolve(cwd, buildDefaults.out))
  const baseUrl = opts.baseUrl ?? config.baseUrl
  const nginxFile = opts.nginx !== undefined ? path.resolve(cwd, opts.nginx) : fromConfig(config.nginx?.file)
  if (nginxFile && !path.relative(out, nginxFile).startsWith('..')) {
    throw new OcisiteError('CONFIG_INVALID', `--nginx ${nginxFile} is inside the served tree ${out}; write it elsewhere`)
  }
  const tlsCert = opts.tlsCert !== undefined ? path.resolve(cwd, opts.tlsCert) : fromConfig(config.nginx?.tlsCert)
  const tlsKey = opts.tlsKey !== undefined ? path.resolve(cwd, opts.tlsKey) : fromConfig(config.nginx?.tlsKey)
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new OcisiteError('CONFIG_INVALID', 'TLS needs both --tls-cert and --tls-key')
  const tls = tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey } : undefined
  const listFrom = (cli: string | string[] | undefined, file: ListenSetting | undefined) => (cli !== undefined ? [cli].flat() : file !== undefined ? [file].flat() : undefined)
  const listen = listFrom(opts.listen, config.nginx?.listen)
  const httpListen = listFrom(opts.httpListen, config.nginx?.httpListen)
  const auth = normalizeSiteAuth({
    host,
    authBasic: opts.authBasic !== undefined ? path.resolve(cwd, opts.authBasic) : fromConfig(config.nginx?.authBasic),
    authPath: opts.authPath ?? config.nginx?.authPath,
    authRealm: opts.authRealm ?? config.nginx?.authRealm,
  })
  if (auth && !nginxFile) throw new OcisiteError('CONFIG_INVALID', '--auth-basic protects the generated nginx config: add --nginx FILE (ocisite serve takes --auth-basic for previews)')
  if (httpListen && !tls) throw new OcisiteError('CONFIG_INVALID', '--http-listen is for the plain-HTTP redirect server, which only exists with --tls-cert and --tls-key; use --listen')
  return {
    host: host.toLowerCase(),
    out,
    baseUrl: baseUrl === undefined ? undefined : checkBaseUrl(baseUrl),
    images,
    nginx: {
      file: nginxFile,
      root: opts.root !== undefined ? path.resolve(cwd, opts.root) : (fromConfig(config.nginx?.root) ?? out),
      listen: parseListen(listen ?? (tls ? buildDefaults.tlsListen : buildDefaults.listen), '--listen'),
      httpListen: parseListen(httpListen ?? buildDefaults.listen, '--http-listen'),
      tls,
      acmeRoot: opts.acmeRoot !== undefined ? path.resolve(cwd, opts.acmeRoot) : fromConfig(config.nginx?.acmeRoot),
      auth,
    },
    v2: opts.v2 ?? config.v2 ?? buildDefaults.v2,
    headersFile: opts.headersFile ?? config.headersFile ?? buildDefaults.headersFile,
    html: opts.html ?? config.html ?? buildDefaults.html,
    force: opts.force ?? false,
    maxArchiveSize: opts.maxArchiveSize ?? buildDefaults.maxArchiveSize,
    concurrency: opts.concurrency ?? defaultConcurrency,
    verify: opts.verify ?? false,
    wait: opts.wait ?? true,
    dryRun: opts.dryRun ?? false,
    onProgress: opts.onProgress,
  }
}

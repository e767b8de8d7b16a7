import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { buildDefaults } from '../defaults.js'
import { dockerStyleTag } from '../oci/image-name.js'
import { defaultConcurrency } from '../content/copy.js'
import { writeSite, type BuildResult, type SiteWriteOptions } from './build.js'
import { openInputs, Scratch } from './plan/inputs.js'
import { checkImagePath, checkTag } from '../oci/names.js'
import { planSite } from './plan/plan.js'
import type { ProgressListener } from './progress.js'
import { loadPublished, type Published, type PublishedImage } from './write/published.js'
import { siteStore } from './write/site-store.js'
import { SitePaths } from './site-paths.js'
import { identityHost, loadSigning, type SigningOptions } from './sign/signing.js'
import { planSigned, withoutReplaced } from './sign/plan-signed.js'
import { publishToBucket, type BucketWriteResult, type Replan } from './bucket/publish.js'
import type { BucketSiteOptions } from './bucket/writer.js'

/** Options every update of a live site shares. */
export interface UpdateOptions {
  /** The site directory, as made by `build`. */
  site: string
  /** Wait for another writer's lock (default true); false fails at once. */
  wait?: boolean
  /** Plan and compare only: report what would be published, unpublished and deleted, and write nothing (no lock is taken). */
  dryRun?: boolean
  cwd?: string
  onProgress?: ProgressListener
  /** For a bucket site (`s3://BUCKET[/PREFIX]`): how to reach it and share it (README, "Publishing into a bucket"). */
  bucket?: Omit<BucketSiteOptions, 'site' | 'onProgress'> & { host?: string; html?: boolean }
}

const isBucketSite = (site: string) => site.startsWith('s3://')

/** Write into a bucket site: the same planner, against the record the bucket holds. */
function intoBucket(options: UpdateOptions & { concurrency?: number }, replan: Replan, starts: boolean): Promise<BucketWriteResult> {
  if (options.dryRun) throw new OcisiteError('CONFIG_INVALID', `--dry-run: not supported for a bucket site (${options.site}) yet`)
  return publishToBucket({ ...options.bucket, site: options.site, starts, ...(options.concurrency ? { concurrency: options.concurrency } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) }, replan)
}

export interface AddOptions extends UpdateOptions, SigningOptions {
  /** Layouts, archives, or directories holding them. */
  inputs: string[]
  /** Image path for a single layout or archive; a prefix for a searched directory. */
  path?: string
  /** Tag globs (`v*`); empty means every tagged entry. */
  tags?: string[]
  /** Move a tag the site already publishes with another digest. */
  force?: boolean
  concurrency?: number
  verify?: boolean
  maxArchiveSize?: number
}

/** The write options of an update: the site's own settings, kept. */
export async function writeOptions(opts: UpdateOptions & { concurrency?: number; verify?: boolean; force?: boolean }, inputs: string[]): Promise<SiteWriteOptions> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.site)) {
    const why = isBucketSite(opts.site) ? 'add, rm and prune update a bucket site; this needs a site directory' : 'a site is a directory, or s3://BUCKET[/PREFIX] for add, rm and prune'
    throw new OcisiteError('CONFIG_INVALID', `--site ${opts.site}: ${why}`)
  }
  const out = path.resolve(opts.cwd ?? process.cwd(), opts.site)
  const { settings } = await loadPublished(new SitePaths(out))
  return {
    out,
    host: settings.host,
    baseUrl: settings.baseUrl,
    v2: settings.v2,
    headersFile: settings.headersFile,
    html: settings.html ?? true,
    force: false,
    wait: opts.wait ?? true,
    concurrency: opts.concurrency ?? defaultConcurrency,
    verify: opts.verify ?? false,
    dryRun: opts.dryRun ?? false,
    onProgress: opts.onProgress,
    inputs,
  }
}

/**
 * Publish layouts into an existing site: their tags are merged into what it publishes, every
 * other image is left alone, and the result equals a full build of all the inputs together.
 */
export async function add(options: AddOptions): Promise<BuildResult> {
  const cwd = path.resolve(options.cwd ?? process.cwd())
  if (options.inputs.length === 0) throw new OcisiteError('NOTHING_TO_PUBLISH', 'no inputs: name layout directories or archives to add')
  const images = options.inputs.map((input) => ({ from: path.resolve(cwd, input), path: options.path ?? '', tags: options.tags ?? [], explicitPath: options.path !== undefined }))
  const bucket = isBucketSite(options.site)
  const opts = bucket ? undefined : await writeOptions(options, images.map((i) => i.from))
  const loaded = await loadSigning(options, cwd)
  if (bucket && loaded) throw new OcisiteError('CONFIG_INVALID', `--site ${options.site}: signing while publishing into a bucket is not supported yet; sign in a site directory (build or add with --sign-by or --sign-key), then ocisite deploy it`)
  const scratch = new Scratch()
  try {
    const inputs = await openInputs(images, scratch, options.maxArchiveSize ?? buildDefaults.maxArchiveSize)
    for (const i of inputs) options.onProgress?.({ type: 'input', label: i.layout.label, imagePath: i.imagePath })
    if (!opts) return await intoBucket(options, (published, source) => planSite(inputs, options.onProgress, { label: options.site, images: published.images, pending: published.pending, store: source, force: options.force ?? false }), true)
    // add signs what its inputs bring, not the site's other images (`ocisite sign` signs those).
    const siteRoot = new SitePaths(opts.out).root
    const signing = loaded && { ...loaded, only: (t: { label: string }) => t.label !== siteRoot }
    const signed = { host: identityHost(opts.host, opts.baseUrl), signing, scratch, mode: 'update' as const, ...(options.onProgress ? { onProgress: options.onProgress } : {}) }
    return await writeSite({ ...opts, ...(signing ? { signing } : {}) }, {
      kind: 'update',
      plan: (site, published) =>
        planSigned({ ...signed, site }, (extra, replaced, progress) =>
          planSite([...inputs, ...extra], progress, { label: site.root, images: withoutReplaced(published.images, replaced), pending: published.pending, store: siteStore(site), force: options.force ?? false }),
        ),
    })
  } finally {
    await scratch.dispose()
  }
}

export interface RmOptions extends UpdateOptions {
  /** `PATH#TAG` (or `HOST/PATH#TAG`) removes a tag; `PATH` alone removes the whole image. */
  names: string[]
}

/** What `rm` removes: a tag of an image, or (without a tag) the whole image. */
interface Removal {
  text: string
  path: string
  tag?: string
}

/** `rm webapp:2.0`: a docker-style tag, refused with the `#` form it means, before the site is read. */
function refuseDockerStyle(text: string): void {
  const docker = text.includes('#') ? undefined : dockerStyleTag(text)
  if (docker) throw new OcisiteError('PATH_INVALID', `rm ${text}: tags follow "#" in host-based names: did you mean ${docker.path}#${docker.tag}?`, { path: text })
}

function parseRemoval(text: string, host: string): Removal {
  const hash = text.indexOf('#')
  let name = hash < 0 ? text : text.slice(0, hash)
  const tag = hash < 0 ? undefined : text.slice(hash + 1)
  if (name.toLowerCase().startsWith(`${host}/`)) name = name.slice(host.length + 1)
  const where = `rm ${text}`
  return { text, path: checkImagePath(name, where), ...(tag !== undefined ? { tag: checkTag(tag, where) } : {}) }
}

/** Remove tags, or whole images, from what a site publishes. Their blobs stay until `prune`. */
export async function rm(options: RmOptions): Promise<BuildResult> {
  if (options.names.length === 0) throw new OcisiteError('CONFIG_INVALID', 'rm: name what to remove: PATH#TAG, or PATH for a whole image')
  options.names.forEach(refuseDockerStyle)
  if (isBucketSite(options.site)) {
    return intoBucket(options, (published, source) => {
      const removals = options.names.map((n) => parseRemoval(n, published.settings.host))
      return planSite([], options.onProgress, { label: options.site, images: withoutRemoved(published, removals, options.site), pending: published.pending, store: source, force: false })
    }, false)
  }
  const opts = await writeOptions(options, [])
  const removals = options.names.map((n) => parseRemoval(n, opts.host))
  return writeSite(opts, {
    kind: 'update',
    plan: (site, published) => planSite([], options.onProgress, { label: site.root, images: withoutRemoved(published, removals, site.root), pending: published.pending, store: siteStore(site), force: false }),
  })
}

function withoutRemoved(published: Published, removals: Removal[], label: string): PublishedImage[] {
  for (const r of removals) {
    const image = published.images.find((i) => i.path === r.path)
    if (!image) {
      throw new OcisiteError('NOT_FOUND', `${label} publishes no image ${r.path} (images: ${published.images.map((i) => i.path).join(', ') || 'none'})`, { path: r.path })
    }
    if (r.tag !== undefined && !image.tags.some((t) => t.tag === r.tag)) {
      throw new OcisiteError('NOT_FOUND', `${label}: ${r.path} has no tag ${r.tag} (tags: ${image.tags.map((t) => t.tag).join(', ')})`, { path: r.path, tag: r.tag })
    }
  }
  return published.images.flatMap((image) => {
    const mine = removals.filter((r) => r.path === image.path)
    if (mine.some((r) => r.tag === undefined)) return []
    const gone = new Set(mine.map((r) => r.tag))
    return [{ ...image, tags: image.tags.filter((t) => !gone.has(t.tag)) }]
  })
}

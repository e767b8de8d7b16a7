import { mapLimit } from '../../concurrency.js'
import type { HttpOptions } from '../../http/client.js'
import type { BucketOptions } from '../../content/bucket-store.js'
import { checkImagePath } from '../../oci/names.js'
import { isListed, listedTags } from '../facts/image-summary.js'
import { compressedSize, describeTag } from '../facts/tag-facts.js'
import { SiteReader } from './site-reader.js'

export interface LsOptions extends HttpOptions {
  /** Requests at once (default 16). */
  concurrency?: number
  cwd?: string
  /** For `s3://BUCKET[/PREFIX]`: how to reach the bucket (deploy's --endpoint, --path-style, --region). */
  bucket?: BucketOptions
}

/** `ls TARGET`: every image path, with how many tags it lists. */
export interface LsImages {
  images: Array<{ path: string; tags: number }>
}

/** One tag as `ls TARGET PATH` shows it. */
export interface LsTag {
  tag: string
  digest: string
  mediaType: string
  artifactType?: string
  /** Each platform (or the one manifest), with its compressed size: the sum of its layers. */
  platforms: Array<{ platform?: string; digest: string; size: number }>
  /** What pulling every platform downloads: each layer once. */
  size: number
  created?: string
  signed: boolean
}

/** `ls TARGET PATH`: an image's tags, newest first, as its page lists them. */
export interface LsTags {
  path: string
  tags: LsTag[]
}

/**
 * List a site's images, or one image's tags (digest, platforms and sizes, created, signed),
 * reading the site as a consumer does: a directory as it is served, or a URL. The answer does not
 * depend on where the site is read from.
 */
export async function ls(target: string, imagePath: string | undefined, options: LsOptions = {}): Promise<LsImages | LsTags> {
  const site = await SiteReader.open(target, options)
  const limit = options.concurrency ?? 16
  if (imagePath === undefined) {
    const paths = await site.images()
    const images = await mapLimit(paths, limit, async (path) => {
      const tags = await site.tags(path)
      const digests = new Set(tags.map((t) => t.entry.digest))
      return { path, tags: tags.filter((t) => isListed(t.tag, digests)).length }
    })
    return { images }
  }
  const path = checkImagePath(imagePath.replace(/^\/+|\/+$/g, ''), `ls ${target}`)
  const tags = await site.tags(path)
  const names = new Set(tags.map((t) => t.tag))
  const referrersOf = site.referrersOf(path)
  const facts = await mapLimit(tags, limit, (t) => describeTag(site.reader(t.engines), referrersOf, t.tag, t.entry, names))
  return {
    path,
    tags: listedTags(facts).map((f) => ({
      tag: f.tag,
      digest: f.digest,
      mediaType: f.mediaType,
      ...(f.artifactType ? { artifactType: f.artifactType } : {}),
      platforms: f.manifests.map((m) => ({ ...(m.platform ? { platform: m.platform } : {}), digest: m.digest, size: m.compressedSize })),
      size: compressedSize(f),
      ...(f.created ? { created: f.created } : {}),
      signed: f.signed,
    })),
  }
}

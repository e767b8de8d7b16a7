import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { checkImagePath, checkTag } from '../../oci/names.js'
import { writeSite, type BuildResult } from '../build.js'
import { Scratch } from '../plan/inputs.js'
import { planSite } from '../plan/plan.js'
import { writeOptions, type UpdateOptions } from '../publish.js'
import type { PublishedImage } from '../write/published.js'
import { siteStore } from '../write/site-store.js'
import { planSigned, withoutReplaced } from './plan-signed.js'
import { identityHost, loadSigning, type SigningOptions } from './signing.js'

export interface SignOptions extends UpdateOptions, SigningOptions {
  /** `PATH#TAG` (or `HOST/PATH#TAG`): the published tags to sign. */
  names: string[]
}

/** Sign tags a site already publishes (`ocisite sign NAME#TAG --site DIR`): the same signatures `build --sign-…` makes. */
export async function signSite(options: SignOptions): Promise<BuildResult> {
  if (options.names.length === 0) throw new OcisiteError('CONFIG_INVALID', 'sign: name the tags to sign: PATH#TAG')
  const cwd = path.resolve(options.cwd ?? process.cwd())
  const opts = await writeOptions(options, [])
  const wanted = options.names.map((n) => parseName(n, opts.host))
  const loaded = await loadSigning(options, cwd)
  if (!loaded?.gpg && !loaded?.cosign) throw new OcisiteError('CONFIG_INVALID', 'sign: give --sign-by FINGERPRINT (containers signatures) or --sign-key FILE (cosign), or both')
  const signing = { ...loaded, only: (t: { path: string; tag: string }) => wanted.some((w) => w.path === t.path && w.tag === t.tag) }
  const scratch = new Scratch()
  try {
    const signed = { host: identityHost(opts.host, opts.baseUrl), signing, scratch, mode: 'update' as const, ...(options.onProgress ? { onProgress: options.onProgress } : {}) }
    return await writeSite({ ...opts, signing }, {
      kind: 'update',
      plan: (site, published) => {
        checkPublished(published.images, wanted, site.root)
        return planSigned({ ...signed, site }, (extra, replaced, progress) =>
          planSite(extra, progress, { label: site.root, images: withoutReplaced(published.images, replaced), pending: published.pending, store: siteStore(site), force: false }),
        )
      },
    })
  } finally {
    await scratch.dispose()
  }
}

function parseName(text: string, host: string): { path: string; tag: string } {
  const hash = text.indexOf('#')
  if (hash < 0) throw new OcisiteError('PATH_INVALID', `sign ${text}: name a tag, PATH#TAG`, { path: text })
  let name = text.slice(0, hash)
  if (name.toLowerCase().startsWith(`${host}/`)) name = name.slice(host.length + 1)
  return { path: checkImagePath(name, `sign ${text}`), tag: checkTag(text.slice(hash + 1), `sign ${text}`) }
}

function checkPublished(images: PublishedImage[], wanted: Array<{ path: string; tag: string }>, label: string): void {
  for (const w of wanted) {
    const image = images.find((i) => i.path === w.path)
    if (!image) throw new OcisiteError('NOT_FOUND', `${label} publishes no image ${w.path} (images: ${images.map((i) => i.path).join(', ') || 'none'})`, { path: w.path })
    if (!image.tags.some((t) => t.tag === w.tag)) throw new OcisiteError('NOT_FOUND', `${label}: ${w.path} has no tag ${w.tag} (tags: ${image.tags.map((t) => t.tag).join(', ')})`, { path: w.path, tag: w.tag })
  }
}

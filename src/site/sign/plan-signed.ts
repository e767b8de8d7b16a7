import type { LayoutInput, Scratch } from '../plan/inputs.js'
import type { SitePlan } from '../plan/plan.js'
import type { ProgressListener } from '../progress.js'
import type { SitePaths } from '../site-paths.js'
import { publishedBefore, type PublishedImage } from '../write/published.js'
import { cosignInputs } from './cosign-inputs.js'
import { isSignatureTag, type Signing } from './signing.js'
import { BUNDLE_MEDIA_TYPE } from '../../sign/cosign-bundle.js'

/** Plans a site with extra inputs (the signatures), and without some of the site's own tags (those they replace). */
export type PlanWith = (extra: LayoutInput[], replaced: Array<{ path: string; tag: string }>, onProgress?: ProgressListener) => Promise<SitePlan>

export interface SignedPlanOptions {
  site: SitePaths
  /** The host signatures name (see identityHost). */
  host: string
  signing: Signing | undefined
  scratch: Scratch
  /** A full build keeps the site's earlier cosign signatures; an update has them in its plan already. */
  mode: 'build' | 'update'
  onProgress?: ProgressListener
}

/**
 * Plan once to learn which manifests are published, sign those the key has not signed yet, and
 * plan again with the signatures as inputs. Without a cosign key, and with no earlier cosign
 * signature to keep, one plan is all.
 */
export async function planSigned(options: SignedPlanOptions, plan: PlanWith): Promise<SitePlan> {
  const old = options.mode === 'build' ? ((await publishedBefore(options.site, undefined))?.images ?? []) : []
  if (!options.signing?.cosign && !old.some(hasCosignSignatures)) return plan([], [], options.onProgress)
  const first = await plan([], [])
  const extra = await cosignInputs({ ...options, first, old, ...(options.mode === 'update' ? { siteLabel: options.site.root } : {}) })
  return plan(extra.inputs, extra.replaced, options.onProgress)
}

function hasCosignSignatures(image: PublishedImage): boolean {
  return image.tags.some((t) => isSignatureTag(t.tag)) || image.referrers.some((r) => r.manifests.some((m) => m.artifactType === BUNDLE_MEDIA_TYPE))
}

/** The site's images without the tags new signature manifests replace. */
export function withoutReplaced(images: PublishedImage[], replaced: Array<{ path: string; tag: string }>): PublishedImage[] {
  if (replaced.length === 0) return images
  return images.map((i) => ({ ...i, tags: i.tags.filter((t) => !replaced.some((r) => r.path === i.path && r.tag === t.tag)) }))
}

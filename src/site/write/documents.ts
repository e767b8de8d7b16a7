import { canonicalBytes } from '../../oci/json.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { MediaType } from '../../oci/media-types.js'
import type { SitePlan } from '../plan/plan.js'
import { SiteLayout } from '../map.js'

/** Files a build writes besides blobs: bytes to write, or hard links into the CAS (no bytes twice). */
export interface SiteFiles {
  files: Map<string, Buffer>
  links: Map<string, string>
}

/** The URI templates a site advertises. */
export interface EngineTemplates {
  refEngine: { protocol: 'oci-index-template-v1'; uri: string }
  casEngine: { protocol: 'oci-cas-template-v1'; uri: string }
}

/** Relative templates by default, so a site works on any host and port; absolute with a base URL. */
export function engineTemplates(baseUrl: string | undefined): EngineTemplates {
  const base = baseUrl ?? ''
  return {
    refEngine: { protocol: 'oci-index-template-v1', uri: `${base}/oci-index/{path}` },
    casEngine: { protocol: 'oci-cas-template-v1', uri: `${base}/oci-cas/{algorithm}/{encoded:2}/{encoded}` },
  }
}

/** One `oci-index/<path>` per image, and `.well-known/oci-host-ref-engines`, all canonical JSON. */
export function discoveryDocuments(plan: SitePlan, templates: EngineTemplates): { indexes: SiteFiles; wellKnown: SiteFiles } {
  const indexes = new Map<string, Buffer>()
  for (const image of plan.images) {
    const manifests: Descriptor[] = image.tags.map((t) => ({ ...t.entry, casEngines: [templates.casEngine] }))
    indexes.set(SiteLayout.index(image.path), canonicalBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }))
  }
  const wellKnown = canonicalBytes({ refEngines: [templates.refEngine], casEngines: [templates.casEngine] })
  return { indexes: { files: indexes, links: new Map() }, wellKnown: { files: new Map([[SiteLayout.wellKnown, wellKnown]]), links: new Map() } }
}

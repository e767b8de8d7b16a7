import { canonicalBytes } from '../../oci/json.js'
import type { Descriptor } from '../../oci/descriptor.js'
import { MediaType } from '../../oci/media-types.js'
import type { SitePlan } from '../plan/plan.js'
import type { Digest } from '../../oci/digest.js'
import { engineUris, pathOf } from '../map.js'

/** Files a build writes besides blobs: bytes to write, or hard links to the blob they are (no bytes twice). */
export interface SiteFiles {
  files: Map<string, Buffer>
  links: Map<string, Digest>
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
    refEngine: { protocol: 'oci-index-template-v1', uri: `${base}${engineUris.index}` },
    casEngine: { protocol: 'oci-cas-template-v1', uri: `${base}${engineUris.cas}` },
  }
}

/** One `oci-index/<path>` per image, and `.well-known/oci-host-ref-engines`, all canonical JSON. */
export function discoveryDocuments(plan: SitePlan, templates: EngineTemplates): { indexes: SiteFiles; wellKnown: SiteFiles } {
  const indexes = new Map<string, Buffer>()
  for (const image of plan.images) {
    const manifests: Descriptor[] = image.tags.map((t) => ({ ...t.entry, casEngines: [templates.casEngine] }))
    indexes.set(pathOf({ kind: 'index', repo: image.path }), canonicalBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }))
  }
  const wellKnown = canonicalBytes({ refEngines: [templates.refEngine], casEngines: [templates.casEngine] })
  return { indexes: { files: indexes, links: new Map() }, wellKnown: { files: new Map([[pathOf({ kind: 'well-known' }), wellKnown]]), links: new Map() } }
}

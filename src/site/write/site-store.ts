import { FileStore, type HashStats } from '../../content/file-store.js'
import { VerifyCache } from '../../content/verify-cache.js'
import { OcisiteError } from '../../errors.js'
import { parseDigest } from '../../oci/digest.js'
import { pathOf } from '../map.js'
import type { SitePaths } from '../site-paths.js'

/**
 * The site's own store: `oci-cas`, each shard directory checked before a blob is written in it.
 * It also reads the site's documents back (verified) when a write plans from what the site
 * publishes. Without a cache, it trusts nothing it did not verify in this run.
 */
export function siteStore(site: SitePaths, cache = VerifyCache.inMemory(), stats?: HashStats): FileStore {
  return new FileStore({
    label: site.root,
    blobPath: (digest) => site.abs(pathOf({ kind: 'blob', digest })),
    prepare: (digest) => site.parentDir(pathOf({ kind: 'blob', digest })).then(() => undefined),
    cache,
    ...(stats ? { stats } : {}),
    missing: (desc) => {
      const rel = pathOf({ kind: 'blob', digest: parseDigest(desc.digest, site.root) })
      return new OcisiteError('BLOB_MISSING', `${site.root}: blob ${desc.digest} that the site publishes is missing (${rel}); rebuild the site from its inputs`, { digest: desc.digest, file: site.abs(rel) })
    },
  })
}

/** The error for a blob the site publishes that only the site held, and no longer holds intact. */
export function siteBlobMissing(site: SitePaths, digest: string): OcisiteError {
  return new OcisiteError('BLOB_MISSING', `${site.root}: blob ${digest}, which the site publishes, is missing or damaged; add the image again, or rebuild the site from its inputs`, { digest })
}

/**
 * URL paths of the OCI distribution API (`/v2/`), as a registry or an ocisite site serves them
 * at the root of its host. Which site file answers each one is the site map's business
 * (site/map.ts); these are the protocol's own names, which a consumer (pull) needs too.
 */
export const distributionPaths = {
  base: '/v2/',
  catalog: '/v2/_catalog',
  tagsList: (repo: string) => `/v2/${repo}/tags/list`,
  /** `reference` is a tag or a digest. */
  manifest: (repo: string, reference: string) => `/v2/${repo}/manifests/${reference}`,
  blob: (repo: string, digest: string) => `/v2/${repo}/blobs/${digest}`,
  referrers: (repo: string, digest: string) => `/v2/${repo}/referrers/${digest}`,
} as const

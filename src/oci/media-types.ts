/** Media types ocisite reads, writes and serves. */
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  refEngines: 'application/vnd.oci.ref-engines.v1+json',
  regexpRefEngines: 'application/vnd.oci.regexp-ref-engines.v1+json',
  octetStream: 'application/octet-stream',
  json: 'application/json',
} as const

export type ManifestKind = 'oci-index' | 'oci-manifest' | 'docker-list' | 'docker-manifest'

/** Each manifest kind with the media type a registry must answer with. */
export const manifestKinds: Record<ManifestKind, string> = {
  'oci-index': MediaType.ociIndex,
  'oci-manifest': MediaType.ociManifest,
  'docker-list': MediaType.dockerList,
  'docker-manifest': MediaType.dockerManifest,
}

export function manifestKindOf(mediaType: string | undefined): ManifestKind | undefined {
  for (const [kind, type] of Object.entries(manifestKinds)) if (type === mediaType) return kind as ManifestKind
  return undefined
}

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerList
}

export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest
}

export function isImageConfigType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig
}

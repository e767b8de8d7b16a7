// Layouts for the pages: images with dates and annotations, a multi-platform index, a Sigstore
// bundle referrer, a cosign `.sig` tag, an SBOM and an artifact. Built in code, reproducibly.
import path from 'node:path'
import { OciLayout } from '../../src/content/layout/oci-layout.js'
import type { Descriptor } from '../../src/oci/descriptor.js'
import { MediaType } from '../../src/oci/media-types.js'
import { sbomFor, stackArtifact, tarLayer } from './fixtures.js'

export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json'
const EMPTY = 'application/vnd.oci.empty.v1+json'

/** A single-platform image made at `created`, with OCI annotations on its manifest. */
export async function datedImage(w: OciLayout, o: { arch: string; variant?: string; text: string; created: string; annotations?: Record<string, string>; labels?: Record<string, string> }): Promise<Descriptor> {
  const layer = await w.putBytes(await tarLayer({ 'etc/greeting': o.text, 'etc/filler': o.text.repeat(64) }), 'application/vnd.oci.image.layer.v1.tar')
  const config = await w.putJson(
    { created: o.created, architecture: o.arch, os: 'linux', ...(o.variant ? { variant: o.variant } : {}), config: { Entrypoint: ['/bin/greet'], Cmd: ['--loud'], ...(o.labels ? { Labels: o.labels } : {}) }, rootfs: { type: 'layers', diff_ids: [layer.digest] } },
    MediaType.ociConfig,
  )
  return w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer], ...(o.annotations ? { annotations: o.annotations } : {}) }, MediaType.ociManifest)
}

/** A referrer of `subject` with `artifactType` and one layer, listed untagged in index.json. */
export async function referrer(w: OciLayout, subject: Descriptor, artifactType: string, body: string): Promise<Descriptor> {
  const config = await w.putBytes(Buffer.from('{}'), EMPTY)
  const layer = await w.putBytes(Buffer.from(body), artifactType)
  const m = await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType, config, layers: [layer], subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }, MediaType.ociManifest)
  await w.addToIndex(m)
  return m
}

/** A cosign tag-scheme signature of `subject`: tagged `sha256-<hex>.sig` beside it. */
export async function cosignSig(w: OciLayout, subject: Descriptor): Promise<Descriptor> {
  const layer = await w.putBytes(Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject.digest } } })), 'application/vnd.dev.cosign.simplesigning.v1+json', {
    annotations: { 'dev.cosignproject.cosign/signature': 'c2lnbmF0dXJl' },
  })
  const config = await w.putJson({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.ociConfig)
  const sig = await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }, MediaType.ociManifest)
  return w.addToIndex(sig, `${subject.digest.replace(':', '-')}.sig`)
}

export interface PageLayouts {
  /** Layout directory by image path. */
  dirs: Record<string, string>
  /** Digests by `path#tag`. */
  digests: Record<string, string>
}

/**
 * `app`: 1.0 (Jan), 1.9 (Feb), 1.10 and latest (Mar, signed by a Sigstore bundle, with an SBOM
 * and annotations); `multi`: 2.0, linux/amd64 and linux/arm64/v8, signed by a cosign `.sig` tag;
 * `stack`: an artifact.
 */
export async function pageLayouts(root: string): Promise<PageLayouts> {
  const digests: Record<string, string> = {}
  const app = await OciLayout.create(path.join(root, 'app'))
  const a1 = await datedImage(app, { arch: 'amd64', text: 'one', created: '2024-01-05T10:00:00Z' })
  const a9 = await datedImage(app, { arch: 'amd64', text: 'nine', created: '2024-02-05T10:00:00.123456789Z' })
  const a10 = await datedImage(app, {
    arch: 'amd64',
    text: 'ten',
    created: '2024-03-05T10:00:00Z',
    annotations: { 'org.opencontainers.image.source': 'https://git.example.com/app', 'org.opencontainers.image.revision': '0a1b2c3d', 'org.opencontainers.image.description': 'The app, <b>ten</b>' },
    labels: { 'org.opencontainers.image.licenses': 'Apache-2.0' },
  })
  for (const [tag, d] of [['1.0', a1], ['1.9', a9], ['1.10', a10], ['latest', a10]] as const) {
    await app.addToIndex(d, tag)
    digests[`app#${tag}`] = d.digest
  }
  await sbomFor(app, a10)
  await referrer(app, a10, BUNDLE_TYPE, JSON.stringify({ mediaType: BUNDLE_TYPE }))

  const multi = await OciLayout.create(path.join(root, 'multi'))
  const amd = await datedImage(multi, { arch: 'amd64', text: 'multi amd64, a little longer', created: '2024-04-01T00:00:00Z' })
  const arm = await datedImage(multi, { arch: 'arm64', variant: 'v8', text: 'multi arm64', created: '2024-04-02T00:00:00Z' })
  const index = await multi.putJson(
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...amd, platform: { architecture: 'amd64', os: 'linux' } }, { ...arm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } }] },
    MediaType.ociIndex,
  )
  await multi.addToIndex(index, '2.0')
  digests['multi#2.0'] = index.digest
  await cosignSig(multi, index)

  const stack = await OciLayout.create(path.join(root, 'stack'))
  const s = await stackArtifact(stack, 'services:\n  web:\n    image: example.com/app#1.0\n')
  await stack.addToIndex(s, '0.1')
  digests['stack#0.1'] = s.digest
  return { dirs: { app: app.paths.root, multi: multi.paths.root, stack: stack.paths.root }, digests }
}

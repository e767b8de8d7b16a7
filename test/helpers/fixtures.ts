import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as tar from 'tar'
import type { Descriptor } from '../../src/oci/descriptor.js'
import { OciLayout } from '../../src/content/layout/oci-layout.js'
import { MediaType } from '../../src/oci/media-types.js'

export const STACK_TYPE = 'application/vnd.rsgo.stack.manifest.v1+yaml'
export const SBOM_TYPE = 'application/spdx+json'

/** A scratch directory, world-readable like a web root (nginx workers run as www-data). */
export async function tempDir(prefix = 'ocisite-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix))
  await fs.chmod(dir, 0o755)
  return dir
}

/** A real, reproducible tar layer holding the given files. */
export async function tarLayer(files: Record<string, string>): Promise<Buffer> {
  const dir = await tempDir('ocisite-layer-')
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true })
    await fs.writeFile(path.join(dir, name), content)
  }
  const chunks: Buffer[] = []
  const stream = tar.c({ cwd: dir, portable: true, mtime: new Date(0), sync: false }, Object.keys(files).sort())
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  await fs.rm(dir, { recursive: true, force: true })
  return Buffer.concat(chunks)
}

/** A single-platform image: config, one layer, manifest. The manifest descriptor has no platform. */
export async function image(w: OciLayout, arch: string, text: string, variant?: string): Promise<Descriptor> {
  const layer = await w.putBytes(await tarLayer({ 'etc/greeting': text }), 'application/vnd.oci.image.layer.v1.tar')
  const config = await w.putJson(
    { architecture: arch, os: 'linux', ...(variant ? { variant } : {}), config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [layer.digest] } },
    MediaType.ociConfig,
  )
  return w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }, MediaType.ociManifest)
}

/** A multi-platform index of amd64 and arm64/v8 images. */
export async function multiPlatform(w: OciLayout, text: string): Promise<Descriptor> {
  const amd = await image(w, 'amd64', `${text} amd64`)
  const arm = await image(w, 'arm64', `${text} arm64`, 'v8')
  return w.putJson(
    {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...amd, platform: { architecture: 'amd64', os: 'linux' } },
        { ...arm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    },
    MediaType.ociIndex,
  )
}

/** A non-image artifact: a stack bundle with a custom media type. */
export async function stackArtifact(w: OciLayout, yaml: string): Promise<Descriptor> {
  const config = await w.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
  const layer = await w.putBytes(Buffer.from(yaml), STACK_TYPE, { annotations: { 'org.opencontainers.image.title': 'stack.yaml' } })
  return w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: STACK_TYPE, config, layers: [layer] }, MediaType.ociManifest)
}

/** An SBOM that refers to `subject`, listed untagged in index.json as oras does. */
export async function sbomFor(w: OciLayout, subject: Descriptor): Promise<Descriptor> {
  const config = await w.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
  const layer = await w.putBytes(Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'fixture' })), SBOM_TYPE)
  const sbom = await w.putJson(
    {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: SBOM_TYPE,
      config,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    },
    MediaType.ociManifest,
  )
  await w.addToIndex(sbom)
  return sbom
}

/** The standard fixture tree: layouts/app (single image + SBOM), layouts/multi, layouts/org/app, layouts/stack. */
export async function standardLayouts(root: string): Promise<Record<string, string>> {
  const app = await OciLayout.create(path.join(root, 'app'))
  const appImage = await image(app, 'amd64', 'hello from app')
  await app.addToIndex(appImage, '1.0')
  await app.addToIndex(appImage, 'latest')
  await sbomFor(app, appImage)

  const multi = await OciLayout.create(path.join(root, 'multi'))
  await multi.addToIndex(await multiPlatform(multi, 'multi'), '2.0')

  const nested = await OciLayout.create(path.join(root, 'org', 'app'))
  await nested.addToIndex(await image(nested, 'amd64', 'hello from org/app'), 'v1')

  const stack = await OciLayout.create(path.join(root, 'stack'))
  await stack.addToIndex(await stackArtifact(stack, 'services:\n  web:\n    image: example.com/app#1.0\n'), '0.1')
  return { app: app.paths.root, multi: multi.paths.root, 'org/app': nested.paths.root, stack: stack.paths.root }
}

/** A layout made by the real umoci tool; umoci writes its blobs 0600. */
export function umociLayout(dir: string, tag: string): void {
  execFileSync('umoci', ['init', '--layout', dir])
  execFileSync('umoci', ['new', '--image', `${dir}:${tag}`])
  execFileSync('umoci', ['config', '--image', `${dir}:${tag}`, '--config.cmd', '/bin/true', '--os', 'linux', '--architecture', 'amd64'])
}

/** Make every blob of a layout 0600, as umoci does. */
export async function restrictBlobs(layoutDir: string): Promise<void> {
  for (const alg of await fs.readdir(path.join(layoutDir, 'blobs'))) {
    for (const f of await fs.readdir(path.join(layoutDir, 'blobs', alg))) await fs.chmod(path.join(layoutDir, 'blobs', alg, f), 0o600)
  }
}

/** Every blob file of a layout (or a site's CAS) by digest, with its bytes' hash. */
export async function blobDigests(layoutDir: string): Promise<string[]> {
  const out: string[] = []
  for (const alg of await fs.readdir(path.join(layoutDir, 'blobs'))) {
    for (const f of await fs.readdir(path.join(layoutDir, 'blobs', alg))) out.push(`${alg}:${f}`)
  }
  return out.sort()
}

/** A Docker schema 2 image whose body and index entry both omit mediaType, as some writers do. */
export async function dockerImage(w: OciLayout, text: string): Promise<Descriptor> {
  const layer = await w.putBytes(await tarLayer({ 'etc/docker': text }), 'application/vnd.docker.image.rootfs.diff.tar')
  const config = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.dockerConfig)
  const manifest = await w.putJson({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config, layers: [layer] }, MediaType.dockerManifest)
  return manifest
}

/** An OCI manifest whose body and index entry both omit mediaType: only its shape says what it is. */
export async function untypedImage(w: OciLayout, text: string): Promise<Descriptor> {
  const layer = await w.putBytes(await tarLayer({ 'etc/untyped': text }), 'application/vnd.oci.image.layer.v1.tar')
  const config = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.ociConfig)
  const manifest = await w.putJson({ schemaVersion: 2, config, layers: [layer] }, '')
  const { mediaType: _omitted, ...entry } = manifest
  return entry as Descriptor
}

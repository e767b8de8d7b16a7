// Generate the benchmark corpus: 100 layouts, 1,000 tags, 11,000 blobs (9,000 layers of 16 KiB,
// plus a config and a manifest per image). Usage: tsx scripts/bench-corpus.ts DIR
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { MediaType } from '../src/oci/media-types.js'

const dir = process.argv[2]
if (!dir) throw new Error('usage: bench-corpus.ts DIR')
for (let l = 0; l < 100; l++) {
  const w = await OciLayout.create(path.join(dir, `layout-${String(l).padStart(3, '0')}`))
  const entries = []
  for (let i = 0; i < 10; i++) {
    const layers = []
    for (let k = 0; k < 9; k++) layers.push(await w.putBytes(randomBytes(16 * 1024), 'application/vnd.oci.image.layer.v1.tar'))
    const config = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((x) => x.digest) } }, MediaType.ociConfig)
    const manifest = await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }, MediaType.ociManifest)
    entries.push({ ...manifest, annotations: { 'org.opencontainers.image.ref.name': `v${i}.0` } })
  }
  await w.writeIndex(entries)
}

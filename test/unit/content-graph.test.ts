import { describe, expect, it } from 'vitest'
import { copyGraph } from '../../src/content/copy.js'
import { walk } from '../../src/content/graph.js'
import { MemoryStore } from '../../src/content/memory-store.js'
import type { Blob, Storage } from '../../src/content/storage.js'
import type { Descriptor } from '../../src/oci/descriptor.js'
import { MediaType } from '../../src/oci/media-types.js'

const json = (v: unknown) => Buffer.from(JSON.stringify(v))

/** A two-platform index whose manifests share one layer, plus an SBOM referring to the index. */
function fixture() {
  const src = new MemoryStore('src')
  const shared = src.put(Buffer.from('shared layer'), 'application/vnd.oci.image.layer.v1.tar')
  const image = (arch: string) => {
    const config = src.put(json({ architecture: arch, os: 'linux' }), MediaType.ociConfig)
    const layer = src.put(Buffer.from(`${arch} layer`), 'application/vnd.oci.image.layer.v1.tar')
    return src.put(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [shared, layer] }), MediaType.ociManifest)
  }
  const amd = image('amd64')
  const arm = image('arm64')
  const index = src.put(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [amd, arm] }), MediaType.ociIndex)
  const empty = src.put(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
  const sbomLayer = src.put(Buffer.from('{"spdx":1}'), 'application/spdx+json')
  const sbom = src.put(json({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/spdx+json', config: empty, layers: [sbomLayer], subject: index }), MediaType.ociManifest)
  return { src, index, amd, arm, shared, sbom }
}

/** A store that records what is pushed, in order, and how many pushes run at once. */
class Recording extends MemoryStore implements Storage {
  pushed: string[] = []
  inFlight = 0
  most = 0
  override async push(desc: Descriptor, blob: Blob, onBytes?: (n: number) => void): Promise<void> {
    this.most = Math.max(this.most, ++this.inFlight)
    await new Promise((r) => setTimeout(r, 1))
    try {
      await super.push(desc, blob, onBytes)
      this.pushed.push(desc.digest)
    } finally {
      this.inFlight--
    }
  }
}

describe('copyGraph', () => {
  it('copies every node once, children before the nodes that name them, within the concurrency bound', async () => {
    const { src, index, amd, arm, shared } = fixture()
    const dst = new Recording('dst')
    const copied: string[] = []
    await copyGraph(src, dst, [index, index], { concurrency: 2, onCopied: (d) => copied.push(d.digest) })
    // index, 2 manifests, 2 configs, 2 own layers, 1 shared layer
    expect(dst.pushed).toHaveLength(8)
    expect(new Set(dst.pushed).size).toBe(8)
    expect(copied.sort()).toEqual([...dst.pushed].sort())
    expect(dst.pushed.at(-1)).toBe(index.digest)
    for (const m of [amd, arm]) expect(dst.pushed.indexOf(m.digest)).toBeGreaterThan(dst.pushed.indexOf(shared.digest))
    expect(dst.most).toBeLessThanOrEqual(2)
  })

  it('skips the whole sub-graph of a node the destination has, or looks at every node when told to', async () => {
    const { src, index, amd, shared } = fixture()
    const dst = new Recording('dst')
    await copyGraph(src, dst, [amd])
    const before = dst.pushed.length
    const skipped: string[] = []
    await copyGraph(src, dst, [index], { onSkipped: (d) => void skipped.push(d.digest) })
    // Only the index and the arm64 manifest, config and layer are new; below the amd64 manifest
    // nothing is looked at, and the shared layer (which arm64 names too) is there already.
    expect(dst.pushed.length - before).toBe(4)
    expect(skipped.sort()).toEqual([amd.digest, shared.digest].sort())
    const again: string[] = []
    await copyGraph(src, dst, [index], { skipSubgraphs: false, onSkipped: (d) => void again.push(d.digest) })
    expect(again).toHaveLength(8)
  })

  it('stops at bad bytes: the blob and the nodes above it are not stored', async () => {
    const { src, index, shared } = fixture()
    // The source's copy of the shared layer is replaced by other bytes under the same digest.
    const liar: Storage = { label: 'liar', exists: (d) => src.exists(d), push: (d, b) => src.push(d, b), fetch: (d, use) => (d.digest === shared.digest ? use({ stream: [Buffer.from('other bytes!')], label: 'liar' }) : src.fetch(d, use)) }
    const dst = new Recording('dst')
    await expect(copyGraph(liar, dst, [index])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' })
    expect(dst.pushed).not.toContain(shared.digest)
    expect(dst.pushed).not.toContain(index.digest)
  })
})

describe('walk', () => {
  it('lists nodes depth-first in document order, whatever order reads finish in, with referrers', async () => {
    const { src, index, sbom } = fixture()
    const slow: Storage = {
      label: 'slow',
      exists: (d) => src.exists(d),
      push: (d, b) => src.push(d, b),
      fetch: async (d, use) => {
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5)))
        return src.fetch(d, use)
      },
    }
    const referrers = { referrers: async (d: Descriptor) => (d.digest === index.digest ? [sbom] : []) }
    const first = await walk(slow, [index], { referrers })
    const second = await walk(src, [index], { referrers, concurrency: 1 })
    expect(first.nodes.map((n) => n.descriptor.digest)).toEqual(second.nodes.map((n) => n.descriptor.digest))
    expect(first.nodes[0]!.descriptor.digest).toBe(index.digest)
    expect(first.nodes).toHaveLength(8 + 3)
    expect(first.referrers.get(index.digest)).toEqual([sbom])
  })

  it('fails at the first bad node in walk order, and on one digest described with two sizes', async () => {
    const { src, index, amd } = fixture()
    const missingFirst = { ...amd, digest: `sha256:${'0'.repeat(64)}` }
    const doc = src.put(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [missingFirst, index] }), MediaType.ociIndex)
    await expect(walk(src, [doc])).rejects.toThrow(`no blob ${missingFirst.digest}`)
    const twice = src.put(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [amd, { ...amd, size: amd.size + 1 }] }), MediaType.ociIndex)
    await expect(walk(src, [twice])).rejects.toMatchObject({ code: 'SIZE_MISMATCH' })
  })
})

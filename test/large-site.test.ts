// A site of hundreds of thousands of blobs must not overflow the stack: every list that grows
// with the site goes through loops, never a spread into a call (which passes each element as an
// argument and throws "Maximum call stack size exceeded" past about 120,000). These tests put
// 250,000 entries through the site's blob copy (image by image) and its undo (in process: a real build of that
// many blobs takes minutes) and through the loops that replaced every other spread.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { maxOf, pushAll } from '../src/arrays.js'
import { isOcisiteError } from '../src/errors.js'
import { digestOf } from '../src/oci/digest.js'
import type { Descriptor } from '../src/oci/descriptor.js'
import { parseDigest } from '../src/oci/digest.js'
import { copyIntoSite, type CopyBatch } from '../src/site/write/blob-copy.js'
import { siteStore } from '../src/site/write/site-store.js'
import { MemoryStore as Generated } from '../src/content/memory-store.js'
import type { Blob, Deleter, Fetcher, Storage } from '../src/content/storage.js'
import { verifyBytes } from '../src/content/ingest/verify.js'
import { SitePaths } from '../src/site/map.js'
import { VerifyCache } from '../src/content/verify-cache.js'
import { tempDir } from './helpers/fixtures.js'

/** More than any spread into a call survives (checked below), and more than the 200,000. */
const N = 250_000

/** Every file under `dir` (relative), and every directory. */
async function tree(dir: string): Promise<{ files: number; dirs: number }> {
  const entries = (await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) as Array<{ isFile(): boolean; isDirectory(): boolean }>
  return { files: entries.filter((e) => e.isFile()).length, dirs: entries.filter((e) => e.isDirectory()).length }
}

describe(`lists of ${N.toLocaleString('en')} entries`, () => {
  it('overflow the stack when spread into a call (so the tests below would catch a spread)', () => {
    const big = Array.from({ length: N }, (_, i) => i)
    expect(() => [].push(...(big as never[]))).toThrow(RangeError)
    expect(() => Math.max(...big)).toThrow(RangeError)
  })

  it('go through pushAll and maxOf', () => {
    const big = Array.from({ length: N }, (_, i) => i)
    const target = [-1]
    expect(pushAll(target, big)).toBe(target)
    expect(target.length).toBe(N + 1)
    expect(target[N]).toBe(N - 1)
    expect(maxOf(big)).toBe(N - 1)
    expect(maxOf(big.map((i) => -i), 0)).toBe(0)
    expect(maxOf([])).toBe(-Infinity)
  })
})

/**
 * A content store held in memory, verifying each blob as it arrives (as every store's push does).
 * The site's file store costs a few hundred microseconds of syscalls per blob, minutes for
 * 250,000 on two busy cores; this one lets the copy's own bookkeeping run at that size.
 */
class MemoryStore implements Storage, Deleter {
  readonly label = 'memory'
  readonly blobs = new Map<string, Buffer>()
  async exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest)
  }
  async fetch<T>(desc: Descriptor, use: (blob: Blob) => Promise<T>): Promise<T> {
    const bytes = this.blobs.get(desc.digest)
    if (!bytes) throw new Error(`memory: no blob ${desc.digest}`)
    return use({ stream: [bytes], label: this.label })
  }
  async push(desc: Descriptor, source: Blob): Promise<void> {
    if (!('stream' in source)) throw new Error('memory: only streams are taken')
    const chunks: Uint8Array[] = []
    for await (const chunk of source.stream) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    verifyBytes(bytes, { digest: parseDigest(desc.digest), size: desc.size, label: source.label })
    this.blobs.set(desc.digest, bytes)
  }
  async delete(desc: Descriptor): Promise<void> {
    this.blobs.delete(desc.digest)
  }
}

/** Images of this many blobs: the copy goes image by image, its books span the whole site. */
const PER_IMAGE = 1_000

/** `n` distinct tiny blobs (as the generated referrers indexes are), in images of PER_IMAGE. */
function tinyBlobs(n: number, onCopied: () => void): CopyBatch[] {
  const from = new Generated()
  const roots = Array.from({ length: n }, (_, i) => from.put(Buffer.from(`blob ${i}\n`), 'application/octet-stream'))
  const batches: CopyBatch[] = []
  for (let i = 0; i < n; i += PER_IMAGE) batches.push({ from, roots: roots.slice(i, i + PER_IMAGE), options: { onCopied } })
  return batches
}

/** A blob whose bytes are not what its digest names: the batch holding it fails. */
function badBlob(): CopyBatch {
  const liar: Fetcher = { label: 'liar', fetch: (_desc, use) => use({ stream: [Buffer.from('bad')], label: 'liar' }) }
  return { from: liar, roots: [{ mediaType: 'application/octet-stream', digest: digestOf(Buffer.from('other')), size: 3 }] }
}

/** Copy `n` blobs, then a batch that fails; returns how many the first batches copied and the error. */
async function copyThenFail(site: SitePaths, store: Storage & Deleter, n: number): Promise<{ copied: number; failure: unknown }> {
  let copied = 0
  const failure = await copyIntoSite(site, store, [...tinyBlobs(n, () => void copied++), badBlob()], 16).then(
    () => undefined,
    (err: unknown) => err,
  )
  return { copied, failure }
}

describe("the site's blob copy, undone when a later batch fails", () => {
  let work: string
  beforeAll(async () => {
    work = await tempDir('ocisite-large-')
  })
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true })
  })

  it(`keeps ${N.toLocaleString('en')} copied blobs on its books and removes every one`, async () => {
    const site = new SitePaths(path.join(work, 'memory-site'))
    await fs.mkdir(site.root)
    const store = new MemoryStore()
    const { copied, failure } = await copyThenFail(site, store, N)
    // Every blob of the first batch reached the store before the second failed.
    expect(copied).toBe(N)
    // The copy's own error, not a RangeError from the books of 250,000 descriptors.
    expect(isOcisiteError(failure) && failure.code).toBe('DIGEST_MISMATCH')
    expect(store.blobs.size).toBe(0)
  })

  it('in the site\'s own store: removes every blob file and the shard directories made for them', async () => {
    const site = new SitePaths(path.join(work, 'site'))
    await fs.mkdir(site.root)
    const store = siteStore(site, VerifyCache.inMemory())
    const n = 2_000
    const { copied, failure } = await copyThenFail(site, store, n)
    expect(copied).toBe(n)
    expect(isOcisiteError(failure) && failure.code).toBe('DIGEST_MISMATCH')
    expect(await tree(site.abs('oci-cas'))).toEqual({ files: 0, dirs: 0 })
    expect(await fs.readdir(site.root)).toEqual([])
  })
})

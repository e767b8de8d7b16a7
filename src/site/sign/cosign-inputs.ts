import { promises as fs } from 'node:fs'

import { OciLayout } from '../../content/layout/oci-layout.js'
import { parseDescriptor, type Descriptor } from '../../oci/descriptor.js'
import { parseDigest } from '../../oci/digest.js'
import { parseJsonObject } from '../../oci/json.js'
import type { FetchBlob } from '../../sign/blob.js'
import { BUNDLE_MEDIA_TYPE, buildBundleReferrer, bundleCandidates, findBundleSignature, signBundle } from '../../sign/cosign-bundle.js'
import { buildSignatureManifest, cosignSignatureTag, findTagSignature, layerOf, signTagLayer, tagCandidates } from '../../sign/cosign-tag.js'
import { pathOf } from '../map.js'
import type { LayoutInput, Scratch } from '../plan/inputs.js'
import type { PlannedImage, SitePlan } from '../plan/plan.js'
import type { ProgressListener } from '../progress.js'
import type { SitePaths } from '../site-paths.js'
import type { PublishedImage } from '../write/published.js'
import { isSignatureTag, type Signing } from './signing.js'

/** What signing adds to a plan: layouts of signatures to publish, and the site's tags they replace. */
export interface CosignInputs {
  inputs: LayoutInput[]
  replaced: Array<{ path: string; tag: string }>
}

export interface CosignContext {
  site: SitePaths
  /** The plan without the new signatures. */
  first: SitePlan
  /** A full build: what the site published before (its signatures of manifests still published are kept). */
  old: PublishedImage[]
  /** An update: the label of the tags that come from the site (those a new `.sig` may replace). */
  siteLabel?: string
  host: string
  signing: Signing | undefined
  scratch: Scratch
  onProgress?: ProgressListener
}

/**
 * Cosign signatures as layouts to plan with the inputs: for each manifest a tag names, a `.sig`
 * manifest (tag scheme) and a bundle referrer, each only when the key has not signed that digest
 * already (a rebuild changes nothing), plus, in a full build, the site's own earlier signatures.
 */
export async function cosignInputs(ctx: CosignContext): Promise<CosignInputs> {
  const read = blobReader(ctx.site, ctx.first)
  const out: CosignInputs = { inputs: [], replaced: [] }
  const bundled = new Set<string>()
  for (const image of ctx.first.images) {
    const writer = lazyWriter(ctx.scratch)
    const old = ctx.old.find((i) => i.path === image.path)
    for (const digest of signedDigests(image, ctx.signing?.only)) {
      await tagScheme(ctx, image, old, digest, read, writer, out)
      if (!bundled.has(digest)) await bundleScheme(ctx, image, old, digest, read, writer)
      bundled.add(digest)
    }
    const dir = writer.dir()
    if (dir) out.inputs.push({ imagePath: image.path, layout: await OciLayout.open(dir, { label: `signatures of ${image.path}`, fromArchive: true }), tags: [], searched: false })
  }
  return out
}

type ReadBlob = (digest: string) => Promise<Buffer>

/** The digests a tag names, except the tags of signatures and referrers themselves. */
function signedDigests(image: PlannedImage, only: Signing['only']): string[] {
  const manifests = new Set(image.manifests.map((m) => m.digest.value))
  const signed = image.tags.filter((t) => !isSignatureTag(t.tag) && manifests.has(t.entry.digest) && (!only || only({ path: image.path, tag: t.tag, label: t.label })))
  return [...new Set(signed.map((t) => t.entry.digest))].sort()
}

/** Reads a blob from the input that brings it, else from the site's CAS. */
function blobReader(site: SitePaths, plan: SitePlan): ReadBlob {
  const origins = new Map(plan.blobs.flatMap((b) => (b.origin ? [[b.digest.value, b.origin.file] as const] : [])))
  return (digest) => fs.readFile(origins.get(digest) ?? site.abs(pathOf({ kind: 'blob', digest: parseDigest(digest) })))
}

function lazyWriter(scratch: Scratch): { get: () => Promise<OciLayout>; dir: () => string | undefined } {
  let made: { dir: string; writer: OciLayout } | undefined
  return {
    get: async () => {
      if (!made) {
        const dir = await scratch.dir()
        made = { dir, writer: await OciLayout.create(dir) }
      }
      return made.writer
    },
    dir: () => made?.dir,
  }
}

type Writer = ReturnType<typeof lazyWriter>

async function tagScheme(ctx: CosignContext, image: PlannedImage, old: PublishedImage | undefined, digest: string, read: ReadBlob, writer: Writer, out: CosignInputs): Promise<void> {
  const tag = cosignSignatureTag(digest)
  const inPlan = image.tags.find((t) => t.tag === tag)
  const before = inPlan ? undefined : old?.tags.find((t) => t.tag === tag)
  const existing = inPlan?.entry ?? before?.entry
  const fetch: FetchBlob = (d) => read(d.digest)
  const candidates = existing ? await tagCandidates(await read(existing.digest), `${image.path}#${tag}`, fetch) : []
  const cosign = ctx.signing?.cosign
  const identity = `${ctx.host}/${image.path}`
  if (!cosign?.tag || findTagSignature(candidates, cosign.key.publicKey, digest, identity)) {
    // Nothing to sign: keep what the site published before, as it was.
    if (before) await copyManifest(await writer.get(), before.entry, read, tag)
    return
  }
  if (inPlan && inPlan.label !== ctx.siteLabel) {
    ctx.onProgress?.({ type: 'warning', message: `${inPlan.label}: ${image.path}#${tag} already holds cosign signatures, and an input's tag is not rewritten; ${digest} is not signed in the tag scheme` })
    return
  }
  if (inPlan) out.replaced.push({ path: image.path, tag })
  // As cosign does: the new signature is appended to those the tag holds.
  const sig = buildSignatureManifest([...candidates.map(layerOf), signTagLayer(cosign.key, digest, identity)])
  const w = await writer.get()
  for (const blob of [sig.config, ...sig.layers]) await w.putBytes(blob.bytes, blob.mediaType)
  await w.addToIndex(await w.putBytes(sig.manifest.bytes, sig.manifest.mediaType), tag)
}

async function bundleScheme(ctx: CosignContext, image: PlannedImage, old: PublishedImage | undefined, digest: string, read: ReadBlob, writer: Writer): Promise<void> {
  const isBundle = (d: Descriptor) => d.artifactType === BUNDLE_MEDIA_TYPE
  const inPlan = (image.referrers.get(digest) ?? []).filter(isBundle)
  const before = (old?.referrers.find((r) => r.subject === digest)?.manifests ?? []).filter((d) => isBundle(d) && !inPlan.some((p) => p.digest === d.digest))
  // The site's earlier bundles stay while their subject is published.
  for (const d of before) await copyManifest(await writer.get(), d, read)
  const cosign = ctx.signing?.cosign
  if (!cosign?.bundle) return
  const fetch: FetchBlob = (d) => read(d.digest)
  for (const d of [...inPlan, ...before]) {
    const candidates = await bundleCandidates(await read(d.digest), `${image.path}@${d.digest}`, fetch)
    if (findBundleSignature(candidates, cosign.key.publicKey, digest)) return
  }
  const subject = image.manifests.find((m) => m.digest.value === digest)!
  const referrer = buildBundleReferrer(await signBundle(cosign.key, digest), { mediaType: subject.mediaType, digest, size: subject.size })
  const w = await writer.get()
  for (const blob of [referrer.config, referrer.layer]) await w.putBytes(blob.bytes, blob.mediaType)
  await w.addToIndex(await w.putBytes(referrer.manifest.bytes, referrer.manifest.mediaType, { artifactType: BUNDLE_MEDIA_TYPE }))
}

/** Copy a manifest and the blobs it names, byte for byte, into the scratch layout (tagged, or as a referrer). */
async function copyManifest(w: OciLayout, entry: Descriptor, read: ReadBlob, tag?: string): Promise<void> {
  const bytes = await read(entry.digest)
  const doc = parseJsonObject(bytes, entry.digest)
  const children = [doc.config, ...(Array.isArray(doc.layers) ? doc.layers : [])].filter((c) => c !== undefined)
  for (const [i, c] of children.entries()) {
    const d = parseDescriptor(c, `${entry.digest} blob ${i}`)
    await w.putBytes(await read(d.digest), d.mediaType)
  }
  const stored = await w.putBytes(bytes, entry.mediaType, entry.artifactType ? { artifactType: entry.artifactType } : {})
  await w.addToIndex(stored, tag)
}

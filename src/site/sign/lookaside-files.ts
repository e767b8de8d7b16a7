import { promises as fs } from 'node:fs'
import { parseDigest } from '../../oci/digest.js'
import { manifestKindOf } from '../../oci/media-types.js'
import { gpgSign } from '../../sign/gpg.js'
import { findGpgSignature, type GpgCandidate } from '../../sign/openpgp.js'
import { atomicPayload } from '../../sign/payload.js'
import { entryOf, pathOf } from '../map.js'
import type { SitePlan } from '../plan/plan.js'
import type { ProgressListener } from '../progress.js'
import type { SitePaths } from '../site-paths.js'
import { OwnedRecord } from '../write/site-state.js'
import { isSignatureTag, type Signing } from './signing.js'

/** The signatures of one manifest in one repository, in lookaside order. */
type Signatures = Array<{ bytes: Buffer; source: string }>

const keyOf = (repo: string, digest: string) => `${repo}@${digest}`

/**
 * The lookaside a site publishing `plan` serves (`signatures/…`, path → bytes): for each manifest
 * an image publishes, the signatures the site already serves, then those of the staging tree it
 * does not hold yet (same bytes), then, with `--sign-by`, one per tag naming it unless the key
 * already signed that identity. Nothing is signed twice, so a rebuild writes the same files.
 * Signatures of manifests no longer published are dropped; staged ones are warned about.
 */
export async function lookasideFiles(site: SitePaths, plan: SitePlan, host: string, signing: Signing | undefined, onProgress?: ProgressListener): Promise<Map<string, Buffer>> {
  const published = new Map<string, Set<string>>()
  for (const image of plan.images) published.set(image.path, new Set(image.manifests.map((m) => m.digest.value)))
  const isPublished = (repo: string, digest: string) => published.get(repo)?.has(digest) === true
  const lists = await siteSignatures(site, isPublished)
  const listOf = (repo: string, digest: string) => {
    const key = keyOf(repo, digest)
    const list = lists.get(key) ?? []
    lists.set(key, list)
    return list
  }
  for (const f of signing?.staging ?? []) {
    if (!isPublished(f.repository, f.digest)) {
      onProgress?.({ type: 'warning', message: `${f.file}: signs ${f.digest}, which ${f.repository} does not publish; not carried` })
      continue
    }
    const list = listOf(f.repository, f.digest)
    if (!list.some((s) => s.bytes.equals(f.bytes))) list.push({ bytes: f.bytes, source: f.file })
  }
  if (signing?.gpg) await signWithGpg(plan, host, { ...signing.gpg, ...(signing.only ? { only: signing.only } : {}) }, listOf)
  const files = new Map<string, Buffer>()
  for (const [key, list] of [...lists].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const at = key.lastIndexOf('@')
    const [repo, digest] = [key.slice(0, at), parseDigest(key.slice(at + 1))]
    list.forEach((s, i) => files.set(pathOf({ kind: 'signature', repo, digest, index: i + 1 }), s.bytes))
  }
  return files
}

/** The signatures the site serves now (from its record of owned files), of manifests still published, in index order. */
async function siteSignatures(site: SitePaths, isPublished: (repo: string, digest: string) => boolean): Promise<Map<string, Signatures>> {
  const found: Array<{ repo: string; digest: string; index: number; rel: string }> = []
  for (const rel of (await OwnedRecord.load(site)).files) {
    const entry = entryOf(rel)
    if (entry?.kind === 'signature' && isPublished(entry.repo, entry.digest.value)) found.push({ repo: entry.repo, digest: entry.digest.value, index: entry.index, rel })
  }
  found.sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : a.index - b.index))
  const lists = new Map<string, Signatures>()
  for (const f of found) {
    const bytes = await fs.readFile(site.abs(f.rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined // an interrupted write: the signature is made again if it is ours
      throw err
    })
    if (!bytes) continue
    const key = keyOf(f.repo, f.digest)
    lists.set(key, [...(lists.get(key) ?? []), { bytes, source: site.abs(f.rel) }])
  }
  return lists
}

/**
 * Sign each tag's manifest for `HOST/PATH:TAG`, as `skopeo copy --sign-by --sign-identity` does
 * (containers' default policy matches a pull by tag against exactly that), unless the key has
 * already signed that identity and digest.
 */
async function signWithGpg(plan: SitePlan, host: string, gpg: NonNullable<Signing['gpg']> & Pick<Signing, 'only'>, listOf: (repo: string, digest: string) => Signatures): Promise<void> {
  for (const image of plan.images) {
    for (const { tag, entry, label } of image.tags) {
      if (isSignatureTag(tag) || !manifestKindOf(entry.mediaType) || (gpg.only && !gpg.only({ path: image.path, tag, label }))) continue
      const identity = `${host}/${image.path}:${tag}`
      const list = listOf(image.path, entry.digest)
      const candidates: GpgCandidate[] = list.map((s) => ({ kind: 'gpg', source: s.source, signature: s.bytes }))
      if (await findGpgSignature(candidates, gpg.keyring, entry.digest, identity)) continue
      list.push({ bytes: await gpgSign(atomicPayload(entry.digest, identity, { creator: 'ocisite' }), gpg.fingerprint, gpg.options), source: `--sign-by ${gpg.fingerprint}` })
    }
  }
}

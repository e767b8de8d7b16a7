import path from 'node:path'
import { OcisiteError } from '../errors.js'
import type { Digest } from '../oci/digest.js'
import type { ManifestKind } from '../oci/media-types.js'

/**
 * Every path in a published site, relative to its root, in POSIX form. One place computes
 * them; routes.ts maps URLs onto the same names.
 */
export const SiteLayout = {
  wellKnown: '.well-known/oci-host-ref-engines',
  headersFile: '_headers',
  indexDir: 'oci-index',
  casDir: 'oci-cas',
  v2Dir: 'v2',
  index: (imagePath: string) => `oci-index/${imagePath}`,
  blob: (d: Digest) => `oci-cas/${d.algorithm}/${d.encoded.slice(0, 2)}/${d.encoded}`,
  v2Base: 'v2/_base.json',
  v2Catalog: 'v2/_catalog.json',
  v2TagsList: (repo: string) => `v2/${repo}/_tags.json`,
  v2Tag: (repo: string, tag: string, kind: ManifestKind) => `v2/${repo}/_tags/${tag}.${kind}`,
  v2Manifest: (repo: string, d: Digest, kind: ManifestKind) => `v2/${repo}/_manifests/${d.algorithm}/${d.encoded}.${kind}`,
  v2Referrers: (repo: string, d: Digest) => `v2/${repo}/_referrers/${d.algorithm}/${d.encoded}.json`,
} as const

/** A site root on disk: turns site-relative names into absolute paths that stay inside it. */
export class SitePaths {
  readonly root: string
  constructor(root: string) {
    this.root = path.resolve(root)
  }
  abs(rel: string): string {
    const p = path.resolve(this.root, ...rel.split('/'))
    const back = path.relative(this.root, p)
    if (back === '' || back.startsWith('..') || path.isAbsolute(back)) {
      throw new OcisiteError('PATH_INVALID', `path "${rel}" would leave the site root ${this.root}`, { path: rel })
    }
    return p
  }
}

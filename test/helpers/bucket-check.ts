// An independent check of a bucket site, from a dump by test/helpers/s3-read.py: every document
// points only at objects that exist. It knows the key layout from README ("How /v2/ works in a
// bucket"), not from ocisite's code.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))

export interface BucketObjectDump {
  size: number
  md5: string
  contentType?: string
  cacheControl?: string
  redirect?: string | null
  text?: string
}

/** Every object of a bucket, read with Debian's botocore; `.ocisite/` (ocisite's record) left out unless asked for; with `refsOnly`, blobs only as listed (enough for bucketProblems). */
export async function dumpBucket(endpoint: string, bucket: string, env: Record<string, string>, keepState = false, refsOnly = false): Promise<Record<string, BucketObjectDump>> {
  const { stdout } = await run('/usr/bin/python3', [path.join(repo, 'test/helpers/s3-read.py'), endpoint, bucket, ...(refsOnly ? ['refs'] : [])], { env: { ...process.env, ...env }, maxBuffer: 512 * 1024 * 1024 })
  const all = JSON.parse(stdout) as Record<string, BucketObjectDump>
  return Object.fromEntries(Object.entries(all).filter(([k]) => keepState || !k.startsWith('.ocisite/')))
}

const cas = (digest: string) => {
  const [alg, hex] = digest.split(':') as [string, string]
  return `oci-cas/${alg}/${hex.slice(0, 2)}/${hex}`
}

/**
 * The keys an HTML page links to within the site (`href`/`src` starting with one `/`): a
 * directory's key is its `index.html`, as the website endpoint answers it. The well-known
 * document is left out: it is the site's entry point, put up last (README, the site map's
 * order), so a site's first publish shows its pages a moment before it; no consumer reaches a
 * page through it.
 */
function pageLinks(html: string): string[] {
  const out: string[] = []
  for (const m of html.matchAll(/\b(?:href|src)="(\/(?!\/)[^"#?]*)/g)) {
    const link = m[1]!
    if (link === '/.well-known/oci-host-ref-engines') continue
    out.push(link.endsWith('/') ? `${link.slice(1)}index.html` : link.slice(1))
  }
  return out
}

/** Problems: each a document key and the missing object it names. */
export function bucketProblems(objects: Record<string, BucketObjectDump>): string[] {
  const has = (k: string) => Object.hasOwn(objects, k)
  const problems: string[] = []
  const need = (from: string, k: string) => {
    if (!has(k)) problems.push(`${from} -> ${k}`)
  }
  for (const [key, o] of Object.entries(objects)) {
    if (o.redirect) need(key, o.redirect.replace(/^\//, ''))
    if (o.text === undefined || o.size === 0) continue
    if (key.endsWith('.html')) {
      pageLinks(o.text).forEach((k) => need(key, k))
      continue
    }
    // The pages' stylesheet, script and icon name nothing.
    if (key.startsWith('_ocisite/')) continue
    let body: Record<string, unknown>
    try {
      body = JSON.parse(o.text) as Record<string, unknown>
    } catch {
      problems.push(`${key}: not JSON`)
      continue
    }
    const descs = (v: unknown) => (Array.isArray(v) ? (v as Array<{ digest: string }>) : [])
    let m: RegExpExecArray | null
    if (key.startsWith('oci-index/')) for (const d of descs(body.manifests)) need(key, cas(d.digest))
    else if ((m = /^v2\/(.+)\/manifests\/[^/]+$/.exec(key)) || (m = /^v2\/(.+)\/referrers\/[^/]+$/.exec(key))) {
      const repoPath = m[1]!
      for (const d of descs(body.manifests)) {
        need(key, cas(d.digest))
        if (!key.includes('/referrers/')) need(key, `v2/${repoPath}/manifests/${d.digest}`)
      }
      for (const d of [...(body.config ? [body.config as { digest: string }] : []), ...descs(body.layers)]) {
        need(key, cas(d.digest))
        need(key, `v2/${repoPath}/blobs/${d.digest}`)
      }
    } else if ((m = /^v2\/(.+)\/tags\/list$/.exec(key))) for (const t of (body.tags as string[]) ?? []) need(key, `v2/${m[1]}/manifests/${t}`)
    else if (key === 'v2/_catalog') for (const r of (body.repositories as string[]) ?? []) need(key, `v2/${r}/tags/list`)
  }
  if (Object.keys(objects).some((k) => k.startsWith('oci-index/'))) need('(site)', '.well-known/oci-host-ref-engines')
  return problems.sort()
}

import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'

/**
 * Everything a consumer could follow in a site on disk, checked: the well-known document, every
 * index and its DAG, every /v2/ tag and manifest and their DAGs, tag lists, the catalog and
 * referrers. Returns the problems found (empty when consistent); every blob must also hash to
 * its name. Written for the tests, independently of ocisite's own code.
 */
export async function siteProblems(root: string): Promise<string[]> {
  const problems: string[] = []
  const cas = (digest: string) => {
    const [alg, hex] = digest.split(':') as [string, string]
    return path.join(root, 'oci-cas', alg, hex.slice(0, 2), hex)
  }
  const readJson = async (file: string, why: string): Promise<any> => {
    try {
      return JSON.parse(await fs.readFile(file, 'utf8'))
    } catch (err) {
      problems.push(`${why}: ${path.relative(root, file)} unreadable (${(err as Error).message})`)
      return undefined
    }
  }
  const visited = new Set<string>()
  const dag = async (digest: string, why: string): Promise<void> => {
    if (visited.has(digest)) return
    visited.add(digest)
    const file = cas(digest)
    const st = await fs.stat(file).catch(() => undefined)
    if (!st) return void problems.push(`${why}: ${digest} is missing`)
    const bytes = await fs.readFile(file)
    if (bytes.length > 4 * 1024 * 1024 || bytes[0] !== 0x7b) return
    let body: any
    try {
      body = JSON.parse(bytes.toString())
    } catch {
      return
    }
    const children = [...(Array.isArray(body.manifests) ? body.manifests : []), ...(body.config ? [body.config] : []), ...(Array.isArray(body.layers) ? body.layers : [])]
    for (const c of children) if (typeof c?.digest === 'string') await dag(c.digest, `${why} → ${digest}`)
  }

  const wellKnown = await readJson(path.join(root, '.well-known', 'oci-host-ref-engines'), 'well-known')
  if (wellKnown && !Array.isArray(wellKnown.refEngines)) problems.push('well-known: no refEngines')
  const walk = async (dir: string): Promise<string[]> => {
    const out: string[] = []
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) out.push(...(await walk(p)))
      else out.push(p)
    }
    return out
  }
  for (const file of await walk(path.join(root, 'oci-index'))) {
    // A killed run's temporary files are named by no document: no consumer can reach them.
    if (path.basename(file).startsWith('.ocisite-tmp-')) continue
    const index = await readJson(file, 'index')
    for (const m of index?.manifests ?? []) await dag(m.digest, path.relative(root, file))
  }
  const v2 = path.join(root, 'v2')
  const catalog = await fs.readFile(path.join(v2, '_catalog.json'), 'utf8').catch(() => undefined)
  if (catalog) {
    for (const repo of JSON.parse(catalog).repositories as string[]) {
      const list = await readJson(path.join(v2, repo, '_tags.json'), `catalog repository ${repo}`)
      for (const tag of list?.tags ?? []) {
        const files = (await fs.readdir(path.join(v2, repo, '_tags')).catch(() => [] as string[])).filter((f) => f.startsWith(`${tag}.`) && !f.startsWith('.ocisite-tmp-'))
        if (files.length === 0) problems.push(`v2 ${repo}: tag ${tag} is listed but has no manifest`)
      }
    }
  }
  for (const file of await walk(v2)) {
    const rel = path.relative(v2, file)
    if (path.basename(file).startsWith('.ocisite-tmp-')) continue
    const m = /^(.+)\/(_tags|_manifests\/sha256|_referrers\/sha256)\/([^/]+)$/.exec(rel)
    if (!m) continue
    const bytes = await fs.readFile(file)
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    if (m[2] === '_manifests/sha256' && !m[3]!.startsWith(digest.slice(7))) problems.push(`v2 ${rel}: holds ${digest}`)
    await dag(digest, `v2 ${rel}`)
    if (m[2] === '_referrers/sha256') for (const r of JSON.parse(bytes.toString()).manifests ?? []) await dag(r.digest, `v2 ${rel}`)
  }
  // Every blob hashes to its name.
  for (const file of await walk(path.join(root, 'oci-cas'))) {
    if (path.basename(file).startsWith('.ocisite-tmp-')) continue
    const hex = createHash('sha256').update(await fs.readFile(file)).digest('hex')
    if (hex !== path.basename(file)) problems.push(`oci-cas: ${path.relative(root, file)} hashes to ${hex}`)
  }
  return problems
}

/** Temporary files anywhere below `root`. */
export async function tempFiles(root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(dir, e.name))
      else if (e.name.startsWith('.ocisite-tmp-')) out.push(path.relative(root, path.join(dir, e.name)))
    }
  }
  await walk(root)
  return out
}

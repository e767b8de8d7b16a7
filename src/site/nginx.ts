import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Handlebars from 'handlebars'
import { writeFileAtomic } from '../oci/atomic.js'
import { CacheControl, manifestSuffixTypes, missResponse, siteRoutes, type Miss } from './routes.js'
import type { V2Tag } from './v2.js'

/** What the nginx template needs to know about a site. */
export interface NginxSite {
  host: string
  root: string
  listen: string
  tls?: { cert: string; key: string }
  v2: boolean
  tags: V2Tag[]
}

const templateFile = fileURLToPath(new URL('../../templates/nginx-site.conf.hbs', import.meta.url))

/** A per-host variable name, so several generated sites can share one nginx. */
function tagVariable(host: string): string {
  return `$ocisite_tag_digest_${host.replace(/[^A-Za-z0-9]/g, '_')}`
}

/** Render the nginx server config from the same route table that `ocisite serve` uses. */
export async function renderNginx(site: NginxSite): Promise<string> {
  const template = Handlebars.compile(await fs.readFile(templateFile, 'utf8'), { noEscape: true, strict: true })
  const routes = siteRoutes({ v2: site.v2 }).map((r) => ({
    id: r.id,
    pattern: r.pattern,
    setRepo: r.v2 && r.pattern.startsWith('^/v2/(.+)/'),
    setRef: r.digest === 'tag',
    types: r.contentType ? [] : manifestSuffixTypes,
    defaultType: r.contentType ?? 'application/octet-stream',
    charset: r.charset,
    cacheControl: r.cacheControl,
    digestHeader: r.digest === undefined ? '' : r.digest === 'tag' ? tagVariable(site.host) : `"${r.digest.captures}"`,
    v2: r.v2,
    miss: r.miss ?? '',
    tryFiles: r.files.join(' '),
  }))
  const misses = [...new Set(siteRoutes({ v2: site.v2 }).flatMap((r) => (r.miss ? [r.miss] : [])))].sort().map((name: Miss) => ({
    name,
    ...missResponse(name),
    checkRepo: name !== 'NAME_UNKNOWN',
  }))
  return template({
    host: site.host,
    root: site.root,
    listen: site.listen,
    redirectListen: '80',
    tls: site.tls,
    v2: site.v2,
    tagVar: tagVariable(site.host),
    tags: site.tags.map((t) => ({ key: `${t.repo}:${t.tag}`, digest: t.digest })),
    routes,
    misses,
    noStore: CacheControl.none,
  })
}

/** Write the rendered config atomically (never inside the served tree; options checked that). */
export async function writeNginx(file: string, site: NginxSite): Promise<void> {
  await writeFileAtomic(path.resolve(file), Buffer.from(await renderNginx(site)))
}

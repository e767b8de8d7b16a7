import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OcisiteError } from '../../errors.js'
import type { NginxOptions } from '../options.js'
import { manifestSuffixTypes, repoMarker } from '../map.js'
import { CacheControl, expandCaptures, missResponse, siteRoutes, type Miss } from './routes.js'
import type { SiteAuth } from './auth.js'
import { nginxAuthContext, registerAuthPartial } from './nginx-auth.js'

/** What the nginx template needs to know about a site: its options, never what it publishes. */
export interface NginxSite extends Omit<NginxOptions, 'file' | 'auth'> {
  host: string
  v2: boolean
  /** Serve the HTML pages (default true). */
  html?: boolean
  /** HTTP Basic authentication (--auth-basic, --auth-path), if any. */
  auth?: SiteAuth | undefined
}

const templateFile = fileURLToPath(new URL('../../../templates/nginx-site.conf.hbs', import.meta.url))

const acmePartial = `    # ACME http-01 challenges (certbot --webroot -w {{acmeRoot}}).
    location ^~ /.well-known/acme-challenge/ {
        root {{acmeRoot}};
        default_type text/plain;
        add_header Cache-Control "no-store" always;
        try_files $uri =404;
    }
`

/**
 * A path as an nginx string: quoted, so spaces and semicolons are safe. nginx has no escape for
 * `$` (it starts a variable) and a quote or backslash would need escaping, so those are refused.
 */
function quotePath(p: string, what: string): string {
  if (/["\\$]/.test(p) || /\p{Cc}/u.test(p)) {
    throw new OcisiteError('CONFIG_INVALID', `${what} ${JSON.stringify(p)}: nginx cannot take a path with a quote, backslash, "$" or control character; choose another path`, { path: p })
  }
  return `"${p}"`
}

/** Render the nginx server config from the same route table that `ocisite serve` uses. */
export async function renderNginx(site: NginxSite): Promise<string> {
  // Loaded only when a config is rendered: most builds never need it.
  const { default: Handlebars } = await import('handlebars')
  const hbs = Handlebars.create()
  hbs.registerPartial('acme', acmePartial)
  await registerAuthPartial(hbs)
  const template = hbs.compile(await fs.readFile(templateFile, 'utf8'), { noEscape: true, strict: true })
  const routes = siteRoutes({ v2: site.v2, html: site.html }).map((r) => ({
    id: r.id,
    pattern: r.pattern,
    setRepo: r.repo,
    types: r.contentType ? [] : (r.types ?? manifestSuffixTypes),
    defaultType: r.contentType ?? 'application/octet-stream',
    charset: r.charset,
    cacheControl: r.cacheControl,
    digestHeader: r.digest === undefined ? '' : `"${r.digest.captures}"`,
    v2: r.v2,
    miss: r.miss ?? '',
    tryFiles: r.files.join(' '),
    headers: Object.entries(r.headers ?? {}).map(([name, value]) => ({ name, value })),
  }))
  const misses = [...new Set(siteRoutes({ v2: site.v2 }).flatMap((r) => (r.miss ? [r.miss] : [])))].sort().map((name: Miss) => ({
    name,
    ...missResponse(name),
    checkRepo: name !== 'NAME_UNKNOWN',
  }))
  // The redirect keeps the HTTPS server's port when it is not the default one.
  const httpsPort = site.listen[0] && site.listen[0].port !== 443 ? `:${site.listen[0].port}` : ''
  return template({
    host: site.host,
    root: quotePath(site.root, '--root'),
    listen: site.listen.map((l) => l.address),
    httpListen: site.httpListen.map((l) => l.address),
    httpsPort,
    tls: site.tls ? { cert: quotePath(site.tls.cert, '--tls-cert'), key: quotePath(site.tls.key, '--tls-key') } : false,
    acmeRoot: site.acmeRoot ? quotePath(site.acmeRoot, '--acme-root') : false,
    auth: nginxAuthContext(site.auth, { acme: !!site.acmeRoot }),
    v2: site.v2,
    routes,
    misses,
    noStore: CacheControl.none,
    // The file whose presence means a /v2/ repository exists, for the repository a route captured.
    repoMarker: expandCaptures(repoMarker, ['', '$ocisite_repo']),
  })
}


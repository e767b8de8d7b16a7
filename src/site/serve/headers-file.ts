import { pageAssets, urlOf } from '../map.js'
import { siteRoutes, type Route } from './routes.js'

/** The header lines of one `_headers` block. */
function headerLines(r: Route, contentType: string): string[] {
  return [
    `  Content-Type: ${r.charset ? `${contentType}; charset=utf-8` : contentType}`,
    `  Cache-Control: ${r.cacheControl}`,
    '  Access-Control-Allow-Origin: *',
    ...Object.entries(r.headers ?? {}).map(([name, value]) => `  ${name}: ${value}`),
  ]
}

/**
 * The blocks of one route: one for its path glob when it has a fixed Content-Type; one per file
 * for the page assets, whose type follows their suffix (`_headers` globs cannot match a suffix).
 */
function blocksOf(r: Route): string[] {
  if (r.pathGlob && r.contentType) return [[r.pathGlob, ...headerLines(r, r.contentType)].join('\n')]
  if (r.id !== 'page-asset' || !r.types) return []
  return pageAssets.map((name) => {
    const type = r.types!.find((t) => name.endsWith(`.${t.suffix}`))!.type
    return [urlOf({ kind: 'page-asset', name }), ...headerLines(r, type)].join('\n')
  })
}

/**
 * A `_headers` file (Netlify, Cloudflare Pages) for the discovery routes and the pages, from the
 * same route table as the nginx config. Such hosts cannot serve /v2/, which needs URL-to-file mapping.
 */
export function renderHeadersFile(options: { html?: boolean } = {}): string {
  return `${siteRoutes({ v2: false, html: options.html }).flatMap(blocksOf).join('\n')}\n`
}

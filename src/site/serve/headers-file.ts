import { siteRoutes } from './routes.js'

/**
 * A `_headers` file (Netlify, Cloudflare Pages) for the discovery routes, from the same route
 * table as the nginx config. Such hosts cannot serve /v2/, which needs URL-to-file mapping.
 */
export function renderHeadersFile(): string {
  const blocks = siteRoutes({ v2: false }).flatMap((r) =>
    r.pathGlob && r.contentType
      ? [
          [
            r.pathGlob,
            `  Content-Type: ${r.charset ? `${r.contentType}; charset=utf-8` : r.contentType}`,
            `  Cache-Control: ${r.cacheControl}`,
            '  Access-Control-Allow-Origin: *',
          ].join('\n'),
        ]
      : [],
  )
  return `${blocks.join('\n')}\n`
}

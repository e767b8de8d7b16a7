import { siteRoutes } from './routes.js'

/**
 * A `_headers` file (Netlify, Cloudflare Pages) for the discovery routes and the pages, from the
 * same route table as the nginx config. Such hosts cannot serve /v2/, which needs URL-to-file mapping.
 */
export function renderHeadersFile(options: { html?: boolean } = {}): string {
  const blocks = siteRoutes({ v2: false, html: options.html }).flatMap((r) =>
    r.pathGlob && r.contentType
      ? [
          [
            r.pathGlob,
            `  Content-Type: ${r.charset ? `${r.contentType}; charset=utf-8` : r.contentType}`,
            `  Cache-Control: ${r.cacheControl}`,
            '  Access-Control-Allow-Origin: *',
            ...Object.entries(r.headers ?? {}).map(([name, value]) => `  ${name}: ${value}`),
          ].join('\n'),
        ]
      : [],
  )
  return `${blocks.join('\n')}\n`
}

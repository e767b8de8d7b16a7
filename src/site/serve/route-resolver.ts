import { promises as fs } from 'node:fs'
import { manifestKinds } from '../../oci/media-types.js'
import { CacheControl, errorBody, expandCaptures, missResponse, type Route } from './routes.js'
import { entryOf, repoMarker } from '../map.js'
import type { SitePaths } from '../site-paths.js'
import { unlessMissing } from '../../fs/missing.js'

/** How to answer one request: a site file with headers, or a generated body. */
export type Resolution =
  | { kind: 'file'; file: string; headers: Record<string, string> }
  | { kind: 'body'; status: number; headers: Record<string, string>; body: string }

/** Decode and normalise a request path the way nginx does; undefined when it is malformed or climbs out. */
export function normalizeUriPath(raw: string): string | undefined {
  const pathOnly = raw.split('?')[0] ?? ''
  let decoded: string
  try {
    decoded = decodeURIComponent(pathOnly)
  } catch (err) {
    if (err instanceof URIError) return undefined // a malformed %-escape: no file has that name
    throw err
  }
  if (!decoded.startsWith('/') || decoded.includes('\0')) return undefined
  const segments: string[] = []
  for (const seg of decoded.split('/').slice(1)) {
    if (seg === '.' || seg === '') continue
    if (seg === '..') {
      if (segments.pop() === undefined) return undefined // nginx answers 400 to a path that climbs above the root
      continue
    }
    segments.push(seg)
  }
  const trailing = /\/\.?$/.test(decoded) && segments.length > 0 ? '/' : ''
  return `/${segments.join('/')}${trailing}`
}

async function isFile(site: SitePaths, rel: string): Promise<boolean> {
  const st = await unlessMissing(fs.lstat(site.abs(rel.replace(/^\/+/, ''))))
  return !!st?.isFile()
}

function typeOf(route: Route, file: string): string {
  if (route.contentType) return route.charset ? `${route.contentType}; charset=utf-8` : route.contentType
  if (route.types) {
    // Typed by suffix (the pages' assets), as nginx's `types` block does.
    const type = route.types.find((t) => file.endsWith(`.${t.suffix}`))?.type ?? 'application/octet-stream'
    return route.charset ? `${type}; charset=utf-8` : type
  }
  // A manifest file: its kind selects the media type (as the suffix does in nginx's `types`).
  const entry = entryOf(file.replace(/^\/+/, ''))
  const kind = entry?.kind === 'tag' || entry?.kind === 'manifest' ? entry.manifestKind : undefined
  return kind ? manifestKinds[kind] : 'application/octet-stream'
}

const notFound = (): Extract<Resolution, { kind: 'body' }> => ({ kind: 'body', status: 404, headers: { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' }, body: 'not found\n' })

/** Resolve a request path against the route table, exactly as the generated nginx config does. */
export async function resolveRequest(site: SitePaths, routes: Route[], rawPath: string): Promise<Resolution> {
  const uri = normalizeUriPath(rawPath)
  if (uri === undefined) return { ...notFound(), status: 400, body: 'bad request\n' }
  for (const route of routes) {
    const m = new RegExp(route.pattern).exec(uri)
    if (!m) continue
    const base: Record<string, string> = { 'Access-Control-Allow-Origin': '*' }
    if (route.v2) base['Docker-Distribution-API-Version'] = 'registry/2.0'
    for (const template of route.files) {
      const file = expandCaptures(template, m)
      if (!(await isFile(site, file))) continue
      const headers: Record<string, string> = { ...base, 'Content-Type': typeOf(route, file), 'Cache-Control': route.cacheControl }
      if (route.digest) headers['Docker-Content-Digest'] = expandCaptures(route.digest.captures, m)
      Object.assign(headers, route.headers)
      return { kind: 'file', file, headers }
    }
    if (!route.miss) return notFound()
    const headers = { ...base, 'Cache-Control': CacheControl.none }
    if (route.miss !== 'NAME_UNKNOWN' && !(await isFile(site, expandCaptures(repoMarker, m)))) {
      return { kind: 'body', status: 404, headers: { ...headers, 'Content-Type': 'application/json' }, body: errorBody('NAME_UNKNOWN') }
    }
    const miss = missResponse(route.miss)
    return { kind: 'body', status: miss.status, headers: { ...headers, 'Content-Type': miss.contentType }, body: miss.body }
  }
  return notFound()
}

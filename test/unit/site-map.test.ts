import { promises as fs } from 'node:fs'
import path from 'node:path'
import { parseTemplate } from 'url-template'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDigest } from '../../src/oci/digest.js'
import { MediaType } from '../../src/oci/media-types.js'
import { OciLayout } from '../../src/content/layout/oci-layout.js'
import { build } from '../../src/site/build.js'
import {
  bucketKeyOf,
  deleteRank,
  engineUris,
  entryOf,
  entryOfKey,
  entryOfUrl,
  ownsKey,
  pathOf,
  phaseOf,
  urlOf,
  type EntryKind,
  type ServedEntry,
  type SiteEntry,
} from '../../src/site/map.js'
import { resolveRequest } from '../../src/site/serve/route-resolver.js'
import { siteRoutes } from '../../src/site/serve/routes.js'
import { SitePaths } from '../../src/site/site-paths.js'
import { planSite } from '../../src/site/plan/plan.js'
import { lookasideUrl } from '../../src/sign/lookaside.js'
import { SITE_LOOKASIDE_PATH } from '../../src/sign/signature-lookup.js'
import { loadPublished } from '../../src/site/write/published.js'
import { siteStore } from '../../src/site/write/site-store.js'
import { siteDocuments } from '../../src/site/write/site-files.js'
import { dockerImage, standardLayouts, tempDir } from '../helpers/fixtures.js'

const A = parseDigest(`sha256:${'ab'.repeat(32)}`)
const B = parseDigest(`sha512:${'0c'.repeat(64)}`)

/** Every kind of site file, with the path it has. */
const table: Array<[SiteEntry, string]> = [
  [{ kind: 'well-known' }, '.well-known/oci-host-ref-engines'],
  [{ kind: 'headers' }, '_headers'],
  [{ kind: 'state', name: 'owned' }, '.ocisite/owned.json'],
  [{ kind: 'state', name: 'lock' }, '.ocisite/lock'],
  [{ kind: 'state', name: 'verified' }, '.ocisite/verified.json'],
  [{ kind: 'state', name: 'published' }, '.ocisite/site.json'],
  [{ kind: 'state', name: 'unreferenced' }, '.ocisite/unreferenced.json'],
  [{ kind: 'state', name: 'build-memo' }, '.ocisite/build.json'],
  [{ kind: 'index', repo: 'hello' }, 'oci-index/hello'],
  [{ kind: 'index', repo: 'org/tools/app' }, 'oci-index/org/tools/app'],
  [{ kind: 'blob', digest: A }, `oci-cas/sha256/ab/${A.encoded}`],
  [{ kind: 'blob', digest: B }, `oci-cas/sha512/0c/${B.encoded}`],
  [{ kind: 'v2-base' }, 'v2/_base.json'],
  [{ kind: 'catalog' }, 'v2/_catalog.json'],
  [{ kind: 'tags-list', repo: 'org/app' }, 'v2/org/app/_tags.json'],
  [{ kind: 'tag', repo: 'org/app', tag: '1.0', manifestKind: 'oci-manifest' }, 'v2/org/app/_tags/1.0.oci-manifest'],
  [{ kind: 'tag', repo: 'app', tag: 'latest', manifestKind: 'docker-list' }, 'v2/app/_tags/latest.docker-list'],
  [{ kind: 'tag', repo: 'app', tag: `sha256-${A.encoded}`, manifestKind: 'oci-index' }, `v2/app/_tags/sha256-${A.encoded}.oci-index`],
  [{ kind: 'manifest', repo: 'app', digest: A, manifestKind: 'docker-manifest' }, `v2/app/_manifests/sha256/${A.encoded}.docker-manifest`],
  [{ kind: 'manifest', repo: 'a/b', digest: B, manifestKind: 'oci-index' }, `v2/a/b/_manifests/sha512/${B.encoded}.oci-index`],
  [{ kind: 'referrers', repo: 'app', digest: A }, `v2/app/_referrers/sha256/${A.encoded}.json`],
  [{ kind: 'signature', repo: 'org/app', digest: A, index: 1 }, `signatures/org/app@sha256=${A.encoded}/signature-1`],
  [{ kind: 'signature', repo: 'app', digest: B, index: 12 }, `signatures/app@sha512=${B.encoded}/signature-12`],
]

describe('site map: entry <-> path', () => {
  it.each(table)('%j is %s, and reads back', (entry, rel) => {
    expect(pathOf(entry)).toBe(rel)
    expect(entryOf(rel)).toEqual(entry)
  })

  it.each([
    ['a blob in the wrong shard', `oci-cas/sha256/cd/${A.encoded}`],
    ['a blob of the wrong length', `oci-cas/sha256/ab/${A.encoded}ab`],
    ['a blob of an unknown algorithm', `oci-cas/md5/ab/${A.encoded}`],
    ['an index with an invalid image path', 'oci-index/Org/App'],
    ['an index with an empty segment', 'oci-index/org//app'],
    ['a temporary file', 'oci-index/.ocisite-tmp-1234-x'],
    ['a tag of no manifest kind', 'v2/app/_tags/1.0.json'],
    ['a tag that is no tag', 'v2/app/_tags/-x.oci-manifest'],
    ['a manifest named by half a digest', `v2/app/_manifests/sha256/${A.encoded.slice(2)}.oci-manifest`],
    ['a repository that is no image path', 'v2/a/_tags/b/_tags.json'],
    ['a file of the user', 'robots.txt'],
    ['an unknown state file', '.ocisite/other.json'],
    ['the lock directory', '.ocisite/lock.d'],
    ['a signature numbered 0', `signatures/app@sha256=${A.encoded}/signature-0`],
    ['a signature of half a digest', `signatures/app@sha256=${A.encoded.slice(2)}/signature-1`],
    ['a signature outside a repository', `signatures/@sha256=${A.encoded}/signature-1`],
  ])('%s is no entry (%s)', (_what, rel) => {
    expect(entryOf(rel)).toBeUndefined()
  })
})

/** The served form of an entry: a manifest's URL does not say its kind. */
function served(entry: SiteEntry): ServedEntry | undefined {
  if (entry.kind === 'headers' || entry.kind === 'state') return undefined
  if (entry.kind === 'tag' || entry.kind === 'manifest') {
    const { manifestKind: _kind, ...rest } = entry
    return rest
  }
  return entry
}

describe('site map: URLs and bucket keys', () => {
  it.each([
    [{ kind: 'well-known' }, '/.well-known/oci-host-ref-engines', '.well-known/oci-host-ref-engines'],
    [{ kind: 'index', repo: 'org/app' }, '/oci-index/org/app', 'oci-index/org/app'],
    [{ kind: 'blob', digest: A }, `/oci-cas/sha256/ab/${A.encoded}`, `oci-cas/sha256/ab/${A.encoded}`],
    [{ kind: 'v2-base' }, '/v2/', 'v2/index.html'],
    [{ kind: 'catalog' }, '/v2/_catalog', 'v2/_catalog'],
    [{ kind: 'tags-list', repo: 'org/app' }, '/v2/org/app/tags/list', 'v2/org/app/tags/list'],
    [{ kind: 'tag', repo: 'org/app', tag: '1.0' }, '/v2/org/app/manifests/1.0', 'v2/org/app/manifests/1.0'],
    [{ kind: 'manifest', repo: 'app', digest: A }, `/v2/app/manifests/${A.value}`, `v2/app/manifests/${A.value}`],
    [{ kind: 'referrers', repo: 'app', digest: B }, `/v2/app/referrers/${B.value}`, `v2/app/referrers/${B.value}`],
    [{ kind: 'blob-link', repo: 'app', digest: A }, `/v2/app/blobs/${A.value}`, `v2/app/blobs/${A.value}`],
    [{ kind: 'signature', repo: 'org/app', digest: A, index: 2 }, `/signatures/org/app@sha256=${A.encoded}/signature-2`, `signatures/org/app@sha256=${A.encoded}/signature-2`],
  ] satisfies Array<[ServedEntry, string, string]>)('%j is served at %s, bucket key %s', (entry, url, key) => {
    expect(urlOf(entry)).toBe(url)
    expect(entryOfUrl(url)).toEqual(entry)
    expect(bucketKeyOf(entry)).toBe(key)
    expect(entryOfKey(key)).toEqual(entry)
    expect(ownsKey(key)).toBe(true)
  })

  it('serves /v2/ from the index document the bucket website names, and nothing of the state or _headers', () => {
    expect(bucketKeyOf({ kind: 'v2-base' }, 'index.json')).toBe('v2/index.json')
    expect(entryOfKey('v2/index.json', 'index.json')).toEqual({ kind: 'v2-base' })
    expect(entryOfKey('v2/index.html', 'index.json')).toBeUndefined()
    expect(entryOfUrl('/v2')).toEqual({ kind: 'v2-base' })
    for (const entry of [{ kind: 'headers' }, { kind: 'state', name: 'owned' }] satisfies SiteEntry[]) {
      expect(urlOf(entry)).toBeUndefined()
      expect(bucketKeyOf(entry)).toBeUndefined()
    }
  })

  it.each([
    ['README.md', false],
    ['site/index.html', false],
    ['.well-known/security.txt', false],
    ['.ocisite/owned.json', false],
    ['oci-index/anything', true],
    ['v2/anything/else', true],
    ['oci-cas/x', true],
    ['signatures/app@sha256=00/signature-1', true],
  ])('deploy --delete may touch %s: %s', (key, owned) => {
    expect(ownsKey(key)).toBe(owned)
  })

  it('advertises engine templates that expand to the URLs of an index and a blob', () => {
    // A consumer asks for oci-index/org%2Fapp; the server decodes it.
    expect(decodeURIComponent(parseTemplate(engineUris.index).expand({ path: 'org/app' }))).toBe(urlOf({ kind: 'index', repo: 'org/app' }))
    for (const d of [A, B]) expect(parseTemplate(engineUris.cas).expand({ algorithm: d.algorithm, encoded: d.encoded })).toBe(urlOf({ kind: 'blob', digest: d }))
  })

  // sign/ and client/ may not import site/, so they keep the lookaside's path as a constant.
  it.each([
    ['app', A, 1],
    ['org/team/app', A, 2],
    ['app', B, 12],
  ] as const)("the default lookaside clients and verify read (SITE_LOOKASIDE_PATH) is where the map serves signatures: %s@%s, signature-%i", (repo, digest, index) => {
    const url = urlOf({ kind: 'signature', repo, digest, index })!
    expect(url.startsWith(SITE_LOOKASIDE_PATH)).toBe(true)
    const origin = 'https://example.com'
    expect(lookasideUrl(new URL(SITE_LOOKASIDE_PATH, origin).toString(), { repository: repo, digest: digest.value, index })).toBe(`${origin}${url}`)
  })

  it('reads a repository whose path holds a /v2/ word the way nginx does (the longest repository)', () => {
    expect(entryOfUrl('/v2/a/manifests/b/tags/list')).toEqual({ kind: 'tags-list', repo: 'a/manifests/b' })
    expect(entryOfUrl('/v2/tags/list/manifests/x')).toEqual({ kind: 'tag', repo: 'tags/list', tag: 'x' })
    // Neither a digest nor a tag.
    expect(entryOfUrl('/v2/app/manifests/sha256:abc')).toBeUndefined()
  })
})

/** The publishing order README "Crashes" describes, kind by kind; kinds in one row share a phase. */
const publishingOrder: EntryKind[][] = [['state'], ['blob'], ['blob-link'], ['manifest'], ['signature'], ['tag', 'referrers'], ['tags-list'], ['catalog', 'v2-base'], ['index'], ['well-known', 'headers']]

describe('site map: publishing phases and delete ranks', () => {
  it('orders every kind as the README says, and deletes in the reverse order', () => {
    const rows = publishingOrder.map((kinds) => kinds.map((kind) => ({ kind, phase: phaseOf({ kind }), rank: deleteRank({ kind }) })))
    for (const row of rows) {
      expect(new Set(row.map((k) => k.phase)).size).toBe(1)
      expect(new Set(row.map((k) => k.rank)).size).toBe(1)
    }
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]![0]!.phase).toBeGreaterThan(rows[i - 1]![0]!.phase)
      expect(rows[i]![0]!.rank).toBeLessThan(rows[i - 1]![0]!.rank)
    }
    expect(rows.flat().map((k) => k.kind).sort()).toEqual(['blob', 'blob-link', 'catalog', 'headers', 'index', 'manifest', 'referrers', 'signature', 'state', 'tag', 'tags-list', 'v2-base', 'well-known'])
  })

  // What each kind of document names: it must be written after, and deleted before, what it names.
  it.each([
    ['well-known', 'index'],
    ['index', 'blob'],
    ['catalog', 'tags-list'],
    ['tags-list', 'tag'],
    ['tag', 'blob'],
    ['tag', 'manifest'],
    ['referrers', 'blob'],
    ['manifest', 'blob'],
    ['manifest', 'blob-link'],
    ['blob-link', 'blob'],
    ['signature', 'manifest'],
    ['tag', 'signature'],
  ] satisfies Array<[EntryKind, EntryKind]>)('%s is written after and deleted before %s', (document, named) => {
    expect(phaseOf({ kind: document })).toBeGreaterThan(phaseOf({ kind: named }))
    expect(deleteRank({ kind: document })).toBeLessThan(deleteRank({ kind: named }))
  })

  it('ranks bucket keys for deploy --delete: documents first, the CAS last', () => {
    const keys = [
      `oci-cas/sha256/ab/${A.encoded}`,
      `v2/app/blobs/${A.value}`,
      `v2/app/manifests/${A.value}`,
      'v2/app/manifests/latest',
      'v2/app/tags/list',
      'v2/_catalog',
      'oci-index/app',
      '.well-known/oci-host-ref-engines',
    ]
    const ranks = keys.map((k) => deleteRank(entryOfKey(k)!))
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks)
    expect(new Set(ranks).size).toBe(keys.length)
    expect(deleteRank(entryOfKey('v2/index.html')!)).toBe(deleteRank(entryOfKey('v2/_catalog')!))
    expect(deleteRank(entryOfKey(`v2/app/referrers/${A.value}`)!)).toBe(deleteRank(entryOfKey('v2/app/manifests/latest')!))
  })
})

describe('site map: every path of a real built site', () => {
  let root: string
  let out: string
  const files: string[] = []

  beforeAll(async () => {
    root = await tempDir('ocisite-map-')
    const layouts = path.join(root, 'layouts')
    await standardLayouts(layouts)
    // Docker manifests and a Docker manifest list too, for every manifest kind.
    const docker = await OciLayout.create(path.join(layouts, 'docker'))
    const manifest = await dockerImage(docker, 'docker')
    const list = await docker.putJson({ schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [{ ...manifest, mediaType: MediaType.dockerManifest, platform: { architecture: 'amd64', os: 'linux' } }] }, MediaType.dockerList)
    await docker.addToIndex({ ...manifest, mediaType: MediaType.dockerManifest }, '1.0')
    await docker.addToIndex(list, 'list')
    out = path.join(root, 'site')
    await build({ inputs: [layouts], host: 'example.com', out, headersFile: true, cwd: root })
    const walk = async (rel: string): Promise<void> => {
      for (const e of await fs.readdir(path.join(out, rel), { withFileTypes: true })) {
        const child = rel ? `${rel}/${e.name}` : e.name
        if (e.isDirectory()) await walk(child)
        else files.push(child)
      }
    }
    await walk('')
  })
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true })
  })

  it('names every file, and every kind a build writes', () => {
    const kinds = new Set<string>()
    const unnamed: string[] = []
    for (const rel of files) {
      const entry = entryOf(rel)
      if (!entry) unnamed.push(rel)
      else {
        kinds.add(entry.kind === 'tag' || entry.kind === 'manifest' ? `${entry.kind} ${entry.manifestKind}` : entry.kind)
        expect(pathOf(entry)).toBe(rel)
      }
    }
    expect(unnamed).toEqual([])
    expect([...kinds].sort()).toEqual(
      [
        'blob',
        'catalog',
        'headers',
        'home',
        'index',
        'manifest docker-list',
        'manifest docker-manifest',
        'manifest oci-index',
        'manifest oci-manifest',
        'page',
        'page-asset',
        'referrers',
        'state',
        'tag docker-list',
        'tag docker-manifest',
        'tag oci-index',
        'tag oci-manifest',
        'tags-list',
        'v2-base',
        'well-known',
      ].sort(),
    )
  })

  it('serves every served file at its URL, through the route table, with its bucket key reading back', async () => {
    const site = new SitePaths(out)
    const routes = siteRoutes({ v2: true })
    let checked = 0
    for (const rel of files) {
      const entry = entryOf(rel)!
      const want = served(entry)
      if (!want) continue
      const url = urlOf(entry)!
      expect(entryOfUrl(url)).toEqual(want)
      expect(entryOfKey(bucketKeyOf(entry)!)).toEqual(want)
      const answer = await resolveRequest(site, routes, url)
      expect(answer.kind === 'file' ? answer.file : answer).toBe(`/${rel}`)
      checked++
    }
    expect(checked).toBeGreaterThan(30)
  })

  it("writes the site's documents in groups of one phase each, in the map's publishing order", async () => {
    const site = new SitePaths(out)
    const published = await loadPublished(site)
    const plan = await planSite([], undefined, { label: out, images: published.images, pending: published.pending, store: siteStore(site), force: false })
    const { documents } = siteDocuments(plan, { baseUrl: undefined, v2: true, headersFile: true })
    const phases = documents.map((group) => [...new Set([...group.links.keys(), ...group.files.keys()].map((rel) => phaseOf(entryOf(rel)!)))])
    for (const p of phases) expect(p).toHaveLength(1)
    const order = phases.map((p) => p[0]!)
    expect(order).toEqual([...order].sort((a, b) => a - b))
    expect(new Set(order).size).toBe(order.length)
    // Every document the build writes is a file of the site, and no other document is there (the
    // HTML pages are rendered apart, by the page writer, in their own phase: checked below).
    const written = documents.flatMap((group) => [...group.links.keys(), ...group.files.keys()]).sort()
    const pageKinds = ['home', 'page', 'page-asset']
    expect(written).toEqual(files.filter((rel) => !['blob', 'state', ...pageKinds].includes(entryOf(rel)!.kind)).sort())
    // Assets, then images' pages, then the home page that links them: all after the indexes they
    // show and before the well-known document (which stays last).
    const pagePhases = pageKinds.map((kind) => phaseOf({ kind: kind as 'home' }))
    expect(pagePhases).toEqual([...pagePhases].sort((a, b) => b - a))
    for (const p of pagePhases) {
      expect(p).toBeGreaterThan(phaseOf({ kind: 'index' }))
      expect(p).toBeLessThan(phaseOf({ kind: 'well-known' }))
    }
    expect(files.filter((rel) => pageKinds.includes(entryOf(rel)!.kind)).length).toBeGreaterThan(2)
  })
})

import { describe, expect, it } from 'vitest'
import { cosignTag, referrerKind } from '../../src/site/facts/signatures.js'
import { compareNewestFirst } from '../../src/site/facts/tag-order.js'
import { paginate, pagination, sizeText } from '../../src/site/write/pages/views.js'
import { siteRoutes } from '../../src/site/serve/routes.js'
import { entryOf, pathOf, urlOf } from '../../src/site/map.js'
import { checkImagePath } from '../../src/oci/names.js'

const order = (tags: Array<[string, string?]>) => tags.map(([tag, created]) => ({ tag, ...(created ? { created } : {}) })).sort(compareNewestFirst).map((t) => t.tag)

describe('tags, newest first', () => {
  it.each([
    ['by created', [['a', '2024-01-01T00:00:00Z'], ['b', '2024-03-01T00:00:00Z'], ['c', '2024-02-01T00:00:00Z']], ['b', 'c', 'a']],
    ['nanoseconds and offsets', [['a', '2024-01-01T00:00:00.000000001Z'], ['b', '2024-01-01T01:30:00+02:00']], ['a', 'b']],
    ['same date: versions, highest first', [['1.9', 'X'], ['1.10', 'X'], ['1.10.1', 'X'], ['v2.0.0', 'X']], ['v2.0.0', '1.10.1', '1.10', '1.9']],
    ['a release after its pre-releases', [['1.0.0-rc.2'], ['1.0.0'], ['1.0.0-rc.10'], ['0.9']], ['1.0.0', '1.0.0-rc.10', '1.0.0-rc.2', '0.9']],
    ['no dates: versions before names, names in natural order, highest first', [['latest'], ['build-9'], ['build-10'], ['2']], ['2', 'latest', 'build-10', 'build-9']],
    ['dated before undated', [['9.9'], ['old', '2020-01-01T00:00:00Z']], ['old', '9.9']],
    ['an unparsable date counts as none', [['x', 'yesterday'], ['y', '2020-01-01T00:00:00Z']], ['y', 'x']],
  ] as Array<[string, Array<[string, string?]>, string[]]>)('%s', (_name, tags, expected) => {
    expect(order(tags.map(([t, c]) => [t, c === 'X' ? '2024-01-01T00:00:00Z' : c]))).toEqual(expected)
  })
})

describe('referrer kinds and cosign tags', () => {
  it.each([
    ['application/vnd.dev.sigstore.bundle.v0.3+json', 'signature'],
    ['application/vnd.dev.sigstore.bundle+json;version=0.3', 'signature'],
    ['application/vnd.dev.cosign.artifact.sig.v1+json', 'signature'],
    ['application/vnd.cncf.notary.signature', 'signature'],
    ['application/spdx+json', 'sbom'],
    ['application/vnd.cyclonedx+json', 'sbom'],
    ['application/vnd.in-toto+json', 'attestation'],
    ['application/vnd.rsgo.stack.manifest.v1+yaml', 'other'],
    [undefined, 'other'],
  ])('%s is a %s', (type, kind) => {
    expect(referrerKind(type)).toBe(kind)
  })

  it.each([
    [`sha256-${'a'.repeat(64)}.sig`, { subject: `sha256:${'a'.repeat(64)}`, kind: 'sig' }],
    [`sha256-${'b'.repeat(64)}.att`, { subject: `sha256:${'b'.repeat(64)}`, kind: 'att' }],
    [`sha256-${'a'.repeat(63)}.sig`, undefined],
    [`sha256-${'a'.repeat(64)}`, undefined],
    ['1.0.sig', undefined],
  ])('%s', (tag, expected) => {
    expect(cosignTag(tag)).toEqual(expected)
  })
})

describe('pagination', () => {
  it('splits by count and by bytes, never leaving a page empty', () => {
    expect(paginate(['a', 'b', 'c', 'd', 'e'], 2, 1000).map((p) => p.join(''))).toEqual(['ab', 'cd', 'e'])
    expect(paginate(['xxxx', 'yyyy', 'zzzzzzzzzz'], 10, 8).map((p) => p.join(''))).toEqual(['xxxxyyyy', 'zzzzzzzzzz'])
    expect(paginate([], 10, 10)).toEqual([[]])
  })

  it('links the first, last, two either side, previous and next', () => {
    expect(pagination(1, 1, String)).toBeUndefined()
    const labels = pagination(10, 20, String)!.links.map((l) => (l.gap ? '…' : l.current ? `[${l.label}]` : l.label))
    expect(labels).toEqual(['Previous', '1', '…', '8', '9', '[10]', '11', '12', '…', '20', 'Next'])
  })

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [5 * 1024 ** 3, '5.0 GiB'],
  ])('%i bytes read %s', (n, text) => {
    expect(sizeText(n)).toBe(text)
  })
})

describe('where pages live', () => {
  it('no image path can name a page folder or an asset, and page names read back', () => {
    for (const p of ['_', '_page', '_ocisite']) expect(() => checkImagePath(p, 'test')).toThrow(/not usable/)
    expect(pathOf({ kind: 'page', repo: 'org/app', page: 2 })).toBe('_/org/app/_page/2/index.html')
    expect(urlOf({ kind: 'page', repo: 'org/app', page: 1 })).toBe('/_/org/app/')
    expect(urlOf({ kind: 'home', page: 1 })).toBe('/')
    expect(urlOf({ kind: 'home', page: 3 })).toBe('/_/_page/3/')
    for (const entry of [{ kind: 'home', page: 1 }, { kind: 'home', page: 2 }, { kind: 'page', repo: 'ocisite.js', page: 1 }, { kind: 'page', repo: 'a/b', page: 12 }, { kind: 'page-asset', name: 'ocisite.css' }] as const) {
      expect(entryOf(pathOf(entry))).toEqual(entry)
    }
    expect(entryOf('_/app/_page/1/index.html')).toBeUndefined()
    expect(entryOf('_/_ocisite/index.html')).toBeUndefined()
  })

  it.each([
    ['/', '/index.html'],
    ['/index.html', '/index.html'],
    ['/_/org/app/', '/_/org/app/index.html'],
    ['/_/org/app', '/_/org/app/index.html'],
    ['/_/org/app/_page/3/', '/_/org/app/_page/3/index.html'],
    ['/_/_page/2/', '/_/_page/2/index.html'],
  ])('the route table maps %s onto %s', (url, file) => {
    const route = siteRoutes({ v2: true }).find((r) => new RegExp(r.pattern).test(url))!
    const m = new RegExp(route.pattern).exec(url)!
    expect(route.files.map((f) => f.replace(/\$(\d)/g, (_, n: string) => m[Number(n)] ?? ''))).toEqual([file])
    expect(route.headers?.['Content-Security-Policy']).toMatch(/^default-src 'self'/)
  })

  it('--no-html serves no page', () => {
    expect(siteRoutes({ v2: true, html: false }).some((r) => new RegExp(r.pattern).test('/'))).toBe(false)
  })
})

// The HTML pages as a build, add and rm write them: what they list, in which order, byte for
// byte the same for the same inputs, only changed images re-rendered, --no-html, and a 10,000-tag
// image paginated under 200 KB a page. ls and inspect read the same site. Installed CLI throughout.
import { promises as fs, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { datedImage, pageLayouts, type PageLayouts } from './helpers/pages-fixtures.js'

let work: string
let L: PageLayouts
let site: string

const build = async (out: string, inputs: string[], extra: string[] = []) => {
  const r = await installed(['build', ...inputs, '--host', 'example.com', '--out', out, ...extra])
  expect(r.code, r.stderr).toBe(0)
}
const page = (root: string, rel: string) => fs.readFile(path.join(root, rel), 'utf8')
/** The values of an attribute, in document order. */
const attrs = (html: string, name: string) => [...html.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((m) => m[1]!)
/** The tag items of an image page: name, and whether it shows the signed badge. */
const tagItems = (html: string) => html.split('<li class="tag"').slice(1).map((item) => ({ tag: /data-name="([^"]+)"/.exec(item)![1]!, signed: item.includes('class="badge signed"') }))

/** Every file of a site below the pages' folders, and the home page, with its bytes. */
async function pageFiles(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const rel of (await fs.readdir(root, { recursive: true })) as string[]) {
    if (!(rel === 'index.html' || rel.startsWith('_/') || rel.startsWith('_ocisite/'))) continue
    if ((await fs.stat(path.join(root, rel))).isFile()) out.set(rel, await fs.readFile(path.join(root, rel)))
  }
  return out
}

beforeAll(async () => {
  work = await tempDir()
  L = await pageLayouts(path.join(work, 'layouts'))
  site = path.join(work, 'site')
  await build(site, Object.values(L.dirs))
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

describe('the pages a build writes', () => {
  it('the home page lists every image with its tag count, newest tag, total size and last change', async () => {
    const home = await page(site, 'index.html')
    expect(attrs(home, 'data-name')).toEqual(['app', 'multi', 'stack'])
    const row = (p: string) => home.split('<tr data-filter-item').find((r) => r.includes(`data-name="${p}"`))!
    expect(row('app')).toMatch(/<td>4<\/td><td><code>1\.10<\/code><\/td>/)
    expect(row('app')).toContain('<time datetime="2024-03-05T10:00:00Z">2024-03-05 10:00 UTC</time>')
    // The cosign .sig tag is shown as the signature of 2.0, not counted as a tag.
    expect(row('multi')).toMatch(/<td>1<\/td><td><code>2\.0<\/code><\/td>/)
    expect(row('stack')).toContain('>unknown<')
    expect(home).toContain('href="/_/app/"')
  })

  it("an image's page lists its tags newest first (dates, then versions), marks the signed ones and hides cosign .sig tags", async () => {
    expect(tagItems(await page(site, '_/app/index.html'))).toEqual([
      { tag: '1.10', signed: true },
      { tag: 'latest', signed: true },
      { tag: '1.9', signed: false },
      { tag: '1.0', signed: false },
    ])
    expect(tagItems(await page(site, '_/multi/index.html'))).toEqual([{ tag: '2.0', signed: true }])
  })

  it('shows the digest, created, annotations (escaped), referrers and pull commands for the site host', async () => {
    const html = await page(site, '_/app/index.html')
    const ten = html.split('<li class="tag"')[1]!
    expect(ten).toContain(`<code>${L.digests['app#1.10']}</code>`)
    expect(ten).toContain('<time datetime="2024-03-05T10:00:00Z">2024-03-05 10:00 UTC</time>')
    expect(ten).toContain('<a href="https://git.example.com/app" rel="noopener noreferrer">https://git.example.com/app</a>')
    expect(ten).toContain('<dd>The app, &lt;b&gt;ten&lt;/b&gt;</dd>')
    expect(ten).toContain('<dt>Licenses</dt><dd>Apache-2.0</dd>')
    expect(ten).toMatch(/class="kind signature">Signature<\/span> <code>application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json/)
    expect(ten).toMatch(/class="kind sbom">SBOM<\/span> <code>application\/spdx\+json/)
    const commands = [...ten.matchAll(/<code class="cmd">(.*?)<\/code>/g)].map((m) => m[1]!.replace(/<span data-o="(?:plain|port)" hidden>[^<]*<\/span>/g, '').replace(/<[^>]+>/g, ''))
    expect(commands).toEqual([
      'docker pull example.com/app:1.10',
      'podman pull example.com/app:1.10',
      'skopeo copy --preserve-digests docker://example.com/app:1.10 oci:app:1.10',
      'ctr image pull example.com/app:1.10',
      `oras copy example.com/app@${L.digests['app#1.10']} --to-oci-layout app:1.10`,
      'ocisite pull example.com/app#1.10 ./app',
    ])
  })

  it('gives each platform of a multi-platform tag its compressed size: the sum of its layers', async () => {
    const html = await page(site, '_/multi/index.html')
    const index = JSON.parse(await fs.readFile(path.join(L.dirs.multi!, 'blobs', 'sha256', L.digests['multi#2.0']!.slice(7)), 'utf8')) as { manifests: Array<{ digest: string; platform: { os: string; architecture: string; variant?: string } }> }
    const expected: Record<string, string> = {}
    for (const m of index.manifests) {
      const manifest = JSON.parse(await fs.readFile(path.join(L.dirs.multi!, 'blobs', 'sha256', m.digest.slice(7)), 'utf8')) as { layers: Array<{ size: number }> }
      expected[[m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/')] = String(manifest.layers.reduce((n, l) => n + l.size, 0))
    }
    const rows = Object.fromEntries([...html.matchAll(/<tr data-platform="([^"]+)"><th scope="row">[^<]+<\/th><td data-bytes="(\d+)">/g)].map((m) => [m[1]!, m[2]!]))
    expect(rows).toEqual(expected)
    expect(Object.keys(rows)).toEqual(['linux/amd64', 'linux/arm64/v8'])
  })

  it('are byte-identical for the same inputs, with no build time in them', async () => {
    const again = path.join(work, 'again')
    await build(again, Object.values(L.dirs))
    const [a, b] = [await pageFiles(site), await pageFiles(again)]
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort())
    for (const [rel, bytes] of a) expect(b.get(rel)!.equals(bytes), rel).toBe(true)
    const today = new Date().toISOString().slice(0, 10)
    for (const [rel, bytes] of a) expect(bytes.toString('utf8'), rel).not.toContain(today)
    expect([...a.keys()].sort()).toEqual(['_/app/index.html', '_/multi/index.html', '_/stack/index.html', '_ocisite/favicon.svg', '_ocisite/ocisite.css', '_ocisite/ocisite.js', 'index.html'])
  })
})

describe('add and rm', () => {
  it('add re-renders only the image it changes, and ends equal to a full build; rm takes an image off the home page', async () => {
    const live = path.join(work, 'live')
    await build(live, [L.dirs.app!, L.dirs.multi!])
    const ino = (rel: string) => statSync(path.join(live, rel)).ino
    const before = { app: ino('_/app/index.html'), multi: ino('_/multi/index.html'), home: ino('index.html') }
    const added = await installed(['add', L.dirs.stack!, '--site', live])
    expect(added.code, added.stderr).toBe(0)
    expect(ino('_/app/index.html')).toBe(before.app)
    expect(ino('_/multi/index.html')).toBe(before.multi)
    expect(ino('index.html')).not.toBe(before.home)
    const [full, updated] = [await pageFiles(site), await pageFiles(live)]
    expect([...updated.keys()].sort()).toEqual([...full.keys()].sort())
    for (const [rel, bytes] of full) expect(updated.get(rel)!.equals(bytes), rel).toBe(true)
    expect(await fs.readFile(path.join(live, '.ocisite/site.json'), 'utf8')).toBe(await fs.readFile(path.join(site, '.ocisite/site.json'), 'utf8'))

    const removed = await installed(['rm', 'multi', '--site', live])
    expect(removed.code, removed.stderr).toBe(0)
    expect(attrs(await page(live, 'index.html'), 'data-name')).toEqual(['app', 'stack'])
    await expect(fs.stat(path.join(live, '_/multi'))).rejects.toThrow(/ENOENT/)
    expect(ino('_/app/index.html')).toBe(before.app)
  })

  it('a new tag re-renders that image: the newest comes first, and the home page says so', async () => {
    const live = path.join(work, 'newer')
    await build(live, [L.dirs.app!])
    const next = await OciLayout.create(path.join(work, 'layouts-next', 'app'))
    await next.addToIndex(await datedImage(next, { arch: 'amd64', text: 'two', created: '2025-06-01T00:00:00Z' }), '2.0')
    const r = await installed(['add', next.paths.root, '--path', 'app', '--site', live])
    expect(r.code, r.stderr).toBe(0)
    expect(tagItems(await page(live, '_/app/index.html')).map((t) => t.tag)).toEqual(['2.0', '1.10', 'latest', '1.9', '1.0'])
    expect(await page(live, 'index.html')).toMatch(/<td>5<\/td><td><code>2\.0<\/code><\/td>/)
  })
})

describe('--no-html', () => {
  it.each([
    ['the flag', (out: string) => build(out, [L.dirs.app!], ['--no-html', '--nginx', `${out}.conf`])],
    ['"html": false in ocisite.json', async (out: string) => {
      const config = `${out}.json`
      await fs.writeFile(config, JSON.stringify({ host: 'example.com', out, html: false, inputs: [L.dirs.app], nginx: { file: `${out}.conf` } }))
      const r = await installed(['build', '--config', config])
      expect(r.code, r.stderr).toBe(0)
    }],
  ])('%s leaves the pages out, and add keeps them out', async (_name, make) => {
    const out = path.join(work, `no-html-${_name.length}`)
    await make(out)
    const r = await installed(['add', L.dirs.stack!, '--site', out])
    expect(r.code, r.stderr).toBe(0)
    expect([...(await pageFiles(out)).keys()]).toEqual([])
    const conf = await fs.readFile(`${out}.conf`, 'utf8')
    expect(conf).not.toContain('# page')
    expect(conf).not.toContain('Content-Security-Policy')
  })
})

describe('a 10,000-tag image', () => {
  it('is paginated, every page under 200 KB, each tag listed once, newest first across pages', async () => {
    const w = await OciLayout.create(path.join(work, 'big', 'big'))
    const images: Array<Awaited<ReturnType<typeof datedImage>>> = []
    for (let i = 0; i < 50; i++) images.push(await datedImage(w, { arch: i % 2 ? 'arm64' : 'amd64', text: `big ${i}`, created: `2024-01-${String(1 + (i % 28)).padStart(2, '0')}T00:00:${String(i).padStart(2, '0')}Z` }))
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ ...images[i % 50]!, annotations: { 'org.opencontainers.image.ref.name': `1.${Math.floor(i / 100)}.${i % 100}-build.${i}` } }))
    await w.writeIndex(entries)
    const out = path.join(work, 'big-site')
    await build(out, [w.paths.root], ['--no-v2'])
    const files = [...(await pageFiles(out)).entries()].filter(([rel]) => rel.startsWith('_/big/'))
    expect(files.length).toBeGreaterThanOrEqual(100)
    for (const [rel, bytes] of files) expect(bytes.byteLength, rel).toBeLessThan(200 * 1024)
    const pages = files.map(([rel]) => rel).sort((a, b) => (Number(/_page\/(\d+)/.exec(a)?.[1] ?? 1) - Number(/_page\/(\d+)/.exec(b)?.[1] ?? 1)))
    const listed = (await Promise.all(pages.map(async (rel) => tagItems(await page(out, rel)).map((t) => t.tag)))).flat()
    expect(listed.length).toBe(10_000)
    expect(new Set(listed).size).toBe(10_000)
    // The newest image (created 2024-01-28T00:00:27Z, i = 27) comes first, its highest version first.
    expect(listed[0]).toBe('1.99.77-build.9977')
    expect(await page(out, '_/big/index.html')).toContain('href="/_/big/_page/2/" rel="next"')
    expect((await fs.stat(path.join(out, 'index.html'))).size).toBeLessThan(200 * 1024)
  })
})

describe('ls and inspect on a site directory', () => {
  it('ls lists the images, and an image\'s tags newest first with platforms, sizes and created', async () => {
    const images = await installed(['ls', site])
    expect(images.code, images.stderr).toBe(0)
    expect(images.stdout).toBe('PATH   TAGS\napp    4\nmulti  1\nstack  1\n')
    const tags = await installed(['ls', site, 'app', '--json'])
    expect(tags.code, tags.stderr).toBe(0)
    const json = JSON.parse(tags.stdout) as { path: string; tags: Array<{ tag: string; signed: boolean; created?: string; platforms: Array<{ platform: string }> }> }
    expect(json.tags.map((t) => [t.tag, t.signed, t.created, t.platforms.map((p) => p.platform)])).toEqual([
      ['1.10', true, '2024-03-05T10:00:00Z', ['linux/amd64']],
      ['latest', true, '2024-03-05T10:00:00Z', ['linux/amd64']],
      ['1.9', false, '2024-02-05T10:00:00.123456789Z', ['linux/amd64']],
      ['1.0', false, '2024-01-05T10:00:00Z', ['linux/amd64']],
    ])
  })

  it('inspect shows the config, layers and referrers of a tag, and of a platform by digest', async () => {
    const r = await installed(['inspect', 'app#1.10', '--site', site, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json).toMatchObject({ path: 'app', reference: '1.10', digest: L.digests['app#1.10'], tags: ['1.10', 'latest'], signed: true, annotations: { source: 'https://git.example.com/app', revision: '0a1b2c3d', licenses: 'Apache-2.0' } })
    expect(json.manifests[0].config).toMatchObject({ created: '2024-03-05T10:00:00Z', os: 'linux', architecture: 'amd64', entrypoint: ['/bin/greet'], cmd: ['--loud'] })
    expect(json.manifests[0].layers).toHaveLength(1)
    expect(json.referrers.map((x: { kind: string }) => x.kind).sort()).toEqual(['sbom', 'signature'])
    const index = JSON.parse(await fs.readFile(path.join(L.dirs.multi!, 'blobs', 'sha256', L.digests['multi#2.0']!.slice(7)), 'utf8'))
    const arm = index.manifests[1].digest as string
    const byDigest = await installed(['inspect', `multi@${arm}`, '--site', site])
    expect(byDigest.code, byDigest.stderr).toBe(0)
    expect(byDigest.stdout).toMatch(/^multi@sha256:[0-9a-f]{64}\ndigest {6}sha256:/)
    expect(byDigest.stdout).toContain('linux/arm64/v8  ')
    expect(byDigest.stdout).toContain('  entrypoint ["/bin/greet"]')
  })

  it.each([
    [['ls', 'SITE', 'nothing'], 3, /publishes no image nothing$/],
    [['inspect', 'app#9.9', '--site', 'SITE'], 3, /app has no tag 9\.9 \(tags: 1\.0, 1\.10, 1\.9, latest\)$/],
    [['inspect', 'app', '--site', 'SITE'], 2, /name a tag or a digest/],
    [['inspect', 'app#1.0'], 2, /name HOST\/PATH#TAG/],
    [['ls', 'ftp://bucket'], 2, /a bucket \(s3:\/\/BUCKET\[\/PREFIX\]\)/],
  ])('%j exits %i with one line', async (args, code, message) => {
    const r = await installed(args.map((a) => (a === 'SITE' ? site : a)))
    expect(r.code, r.stderr).toBe(code)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr.trim()).toMatch(message)
  })
})

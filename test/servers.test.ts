import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serve, type RunningServer } from '../src/site/serve/serve.js'
import { ocisite } from './helpers/cli.js'
import { standardLayouts, tempDir, umociLayout } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { TYPES, walkSite } from './helpers/walk-site.js'

let work: string
let out: string
let nginx: RunningNginx
let nginxBase: string
let preview: RunningServer
let published: Array<{ path: string; tags: Array<{ tag: string; digest: string }> }>

beforeAll(async () => {
  work = await tempDir()
  await fs.chmod(work, 0o755) // nginx workers run as an unprivileged user
  await standardLayouts(path.join(work, 'layouts'))
  umociLayout(path.join(work, 'layouts', 'umoci'), 'u1')
  out = path.join(work, 'public')
  const port = await freePort()
  const conf = path.join(work, 'site.conf')
  const run = await ocisite(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', out, '--nginx', conf, '--listen', `127.0.0.1:${port}`, '--headers-file', '--json'])
  expect(run.code, run.stderr).toBe(0)
  published = JSON.parse(run.stdout).images
  nginx = await startNginx([conf], port)
  nginxBase = `http://127.0.0.1:${port}`
  preview = await serve({ dir: out, port: 0 })
})

afterAll(async () => {
  await preview?.close()
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

const allTags = () => published.flatMap((i) => i.tags.map((t) => ({ path: i.path, ...t })))

describe.each([
  ['nginx', () => nginxBase],
  ['ocisite serve', () => preview.url],
])('discovery round trip through %s', (_name, base) => {
  it('resolves every published tag and verifies every reachable blob', async () => {
    expect(allTags().length).toBe(6)
    for (const t of allTags()) {
      const result = await walkSite(base(), t.path, t.tag)
      expect(result.root.digest).toBe(t.digest)
      expect(result.blobs.size).toBeGreaterThanOrEqual(2)
      expect([...result.contentTypes]).toEqual([TYPES.blob])
    }
  })

  it('serves a nested path both as org/app and org%2Fapp', async () => {
    const strict = await walkSite(base(), 'org/app', 'v1')
    const reserved = await walkSite(base(), 'org/app', 'v1', { reserved: true })
    expect(strict.root.digest).toBe(reserved.root.digest)
    for (const p of ['/oci-index/org/app', '/oci-index/org%2Fapp']) {
      const res = await fetch(base() + p)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe(TYPES.index)
    }
  })

  it('answers HEAD with the same headers and no body', async () => {
    const digest = allTags()[0]!.digest.slice(7)
    for (const [p, type] of [
      ['/.well-known/oci-host-ref-engines', TYPES.refEngines],
      ['/oci-index/app', TYPES.index],
      [`/oci-cas/sha256/${digest.slice(0, 2)}/${digest}`, TYPES.blob],
    ] as const) {
      const res = await fetch(base() + p, { method: 'HEAD' })
      expect(res.status, p).toBe(200)
      expect(res.headers.get('content-type')).toBe(type)
      expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0)
      expect((await res.arrayBuffer()).byteLength).toBe(0)
    }
  })

  it('sets CORS everywhere, caches blobs forever and documents briefly', async () => {
    const digest = allTags()[0]!.digest.slice(7)
    const blob = await fetch(`${base()}/oci-cas/sha256/${digest.slice(0, 2)}/${digest}`)
    expect(blob.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(blob.headers.get('access-control-allow-origin')).toBe('*')
    const doc = await fetch(`${base()}/oci-index/app`)
    expect(doc.headers.get('cache-control')).toBe('public, max-age=60')
    expect(doc.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('never serves ocisite\'s own state (the record of owned files, the verify cache, the lock)', async () => {
    for (const f of ['.ocisite/owned.json', '.ocisite/verified.json']) await expect(fs.stat(path.join(out, f)), f).resolves.toBeTruthy()
    for (const p of ['/.ocisite/owned.json', '/.ocisite/verified.json', '/.ocisite/build.json', '/.ocisite/', '/.ocisite/lock.d/owner.json', '/%2Eocisite/owned.json']) {
      const res = await fetch(base() + p)
      expect(res.status, p).toBe(404)
      expect(await res.text()).not.toContain('files')
    }
  })

  it.each(['/nothing', '/_/nobody/', '/_/', '/_ocisite/other.js', '/oci-index/unknown', '/oci-cas/sha256/00/' + '0'.repeat(64), '/oci-layout', '/oci-index/', '/v2/app/_tags.json', '/oci-cas/sha256/'])(
    'answers 404 for %s',
    async (p) => {
      const res = await fetch(base() + p)
      expect(res.status).toBe(404)
    },
  )
})

describe('the generated nginx config', () => {
  it('passes nginx -t', () => {
    expect(nginx.testOutput).toMatch(/syntax is ok/)
    expect(nginx.testOutput).toMatch(/test is successful/)
  })
})

describe('ocisite serve and nginx answer alike', () => {
  it('gives the same status, Content-Type, Cache-Control and digest for every kind of path', async () => {
    const app = published.find((i) => i.path === 'app')!.tags[0]!.digest
    const multi = published.find((i) => i.path === 'multi')!.tags[0]!.digest
    const hex = app.slice(7)
    const paths = [
      '/.well-known/oci-host-ref-engines',
      '/oci-index/app',
      '/oci-index/org%2Fapp',
      `/oci-cas/sha256/${hex.slice(0, 2)}/${hex}`,
      '/v2/',
      '/v2',
      '/v2/_catalog',
      '/v2/app/tags/list',
      '/v2/app/manifests/1.0',
      `/v2/app/manifests/${app}`,
      '/v2/multi/manifests/2.0',
      `/v2/multi/manifests/${multi}`,
      `/v2/app/blobs/${app}`,
      `/v2/app/referrers/${app}`,
      `/v2/app/referrers/sha256:${'1'.repeat(64)}`,
      `/v2/app/manifests/sha256-${hex}`,
      '/v2/app/manifests/missing',
      `/v2/app/blobs/sha256:${'2'.repeat(64)}`,
      '/v2/nobody/tags/list',
      '/v2/nobody/manifests/1.0',
      `/v2/nobody/referrers/${app}`,
      '/unknown',
      '/',
      '/index.html',
      '/_/app/',
      '/_/app',
      '/_/org/app/index.html',
      '/_ocisite/ocisite.css',
      '/_ocisite/ocisite.js',
      '/_ocisite/favicon.svg',
    ]
    for (const method of ['GET', 'HEAD']) {
      for (const p of paths) {
        const [a, b] = await Promise.all([fetch(nginxBase + p, { method }), fetch(preview.url + p, { method })])
        const pick = (r: Response) => ({
          status: r.status,
          type: r.headers.get('content-type'),
          cache: r.headers.get('cache-control'),
          digest: r.headers.get('docker-content-digest'),
          cors: r.headers.get('access-control-allow-origin'),
          csp: r.headers.get('content-security-policy'),
        })
        expect(pick(b), `${method} ${p}`).toEqual(pick(a))
        if (method === 'GET') expect(Buffer.from(await b.arrayBuffer()).equals(Buffer.from(await a.arrayBuffer())), `body of ${p}`).toBe(true)
      }
    }
  })
})


describe('the _headers file for Netlify and Cloudflare Pages', () => {
  it('gives each discovery path the headers nginx sends', async () => {
    const text = await fs.readFile(path.join(out, '_headers'), 'utf8')
    expect(text).not.toContain('.ocisite')
    const blocks = text.trim().split(/\n(?=\/)/)
    // Issue 26 added the pages: their blocks follow the discovery paths'.
    expect(blocks.map((b) => b.split('\n')[0])).toEqual(['/.well-known/oci-host-ref-engines', '/oci-index/*', '/oci-cas/*', '/', '/_/*', '/_ocisite/ocisite.css', '/_ocisite/ocisite.js', '/_ocisite/favicon.svg', '/signatures/*'])
    const hex = allTags()[0]!.digest.slice(7)
    const samples: Record<string, string> = {
      '/.well-known/oci-host-ref-engines': '/.well-known/oci-host-ref-engines',
      '/oci-index/*': '/oci-index/org/app',
      '/oci-cas/*': `/oci-cas/sha256/${hex.slice(0, 2)}/${hex}`,
      '/': '/',
      '/_/*': '/_/org/app/',
      '/_ocisite/ocisite.css': '/_ocisite/ocisite.css',
      '/_ocisite/ocisite.js': '/_ocisite/ocisite.js',
      '/_ocisite/favicon.svg': '/_ocisite/favicon.svg',
    }
    // This site has no signatures: the lookaside's block is checked against nginx by
    // test/sign-publish.test.ts ("_headers names the lookaside…").
    for (const block of blocks.filter((b) => !b.startsWith('/signatures/'))) {
      const [glob, ...lines] = block.split('\n')
      const declared = Object.fromEntries(lines.map((l) => [l.trim().split(': ')[0]!.toLowerCase(), l.trim().split(': ').slice(1).join(': ')]))
      const res = await fetch(nginxBase + samples[glob!]!)
      expect(declared['content-type']).toBe(res.headers.get('content-type'))
      expect(declared['cache-control']).toBe(res.headers.get('cache-control'))
      expect(declared['access-control-allow-origin']).toBe(res.headers.get('access-control-allow-origin'))
      expect(declared['content-security-policy']).toBe(res.headers.get('content-security-policy') ?? undefined)
    }
  })
})

describe('ocisite serve on a port it cannot have', () => {
  it('a port already in use: one line naming it, exit 2', async () => {
    const r = await ocisite(['serve', out, '--port', new URL(preview.url).port])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual([`ocisite: error[LISTEN_FAILED]: cannot listen on 127.0.0.1:${new URL(preview.url).port}: the address is already in use`])
  })
})

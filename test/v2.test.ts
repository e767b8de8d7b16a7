import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ocisite } from './helpers/cli.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { entryOf } from '../src/site/map.js'
import { dockerImage, SBOM_TYPE, standardLayouts, tempDir, untypedImage } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { startRegistry } from './helpers/registry.js'
import { walkSite } from './helpers/walk-site.js'

const run = promisify(execFile)
let work: string
let layouts: Record<string, string>
let out: string
let nginx: RunningNginx
let site: string // host:port of the static site
let tags: Record<string, Record<string, string>> // path → tag → digest

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** Every blob of a layout, by digest. */
async function layoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const f of await fs.readdir(path.join(dir, 'blobs', 'sha256'))) out.set(`sha256:${f}`, await fs.readFile(path.join(dir, 'blobs', 'sha256', f)))
  return out
}

/** Pulled blobs must be exactly the source's bytes. */
async function expectBytesFromSource(pulled: string, source: string, atLeast: number): Promise<void> {
  const got = await layoutBlobs(pulled)
  const src = await layoutBlobs(source)
  expect(got.size).toBeGreaterThanOrEqual(atLeast)
  for (const [digest, bytes] of got) {
    expect(src.has(digest), `${digest} is not a blob of ${source}`).toBe(true)
    expect(bytes.equals(src.get(digest)!)).toBe(true)
  }
}

beforeAll(async () => {
  work = await tempDir()
  await fs.chmod(work, 0o755)
  layouts = await standardLayouts(path.join(work, 'layouts'))
  const docker = await OciLayout.create(path.join(work, 'layouts', 'docker'))
  await docker.addToIndex(await dockerImage(docker, 'docker schema 2'), 'd1')
  await docker.addToIndex(await untypedImage(docker, 'no media type anywhere'), 'untyped')
  layouts.docker = docker.paths.root
  out = path.join(work, 'public')
  const port = await freePort()
  const conf = path.join(work, 'site.conf')
  const built = await ocisite(['build', path.join(work, 'layouts'), '--host', '127.0.0.1', '--out', out, '--nginx', conf, '--listen', `127.0.0.1:${port}`, '--json'])
  expect(built.code, built.stderr).toBe(0)
  tags = Object.fromEntries(JSON.parse(built.stdout).images.map((i: any) => [i.path, Object.fromEntries(i.tags.map((t: any) => [t.tag, t.digest]))]))
  nginx = await startNginx([conf], port)
  site = `127.0.0.1:${port}`
})

afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

describe('skopeo pulls from the static /v2/ tree on nginx', () => {
  it('inspects a tag and lists tags', async () => {
    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${site}/app:1.0`))
    expect(info.Digest).toBe(tags.app!['1.0'])
    expect(info.RepoTags).toEqual(['1.0', 'latest'])
    expect(info.Architecture).toBe('amd64')
    const listed = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${site}/org/app`))
    expect(listed.Tags).toEqual(['v1'])
  })

  it.each([
    ['app', '1.0', 3],
    ['org/app', 'v1', 3],
    ['stack', '0.1', 3],
    ['docker', 'd1', 3],
    ['docker', 'untyped', 3],
  ])('copies a single-platform tag %s:%s', async (repo, tag, blobs) => {
    const dest = path.join(work, `pull-${repo.replace('/', '-')}-${tag}`)
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${site}/${repo}:${tag}`, `oci:${dest}:${tag}`)
    await expectBytesFromSource(dest, layouts[repo]!, blobs)
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(tags[repo]![tag])
  })

  it('copies every platform of a multi-platform tag with --all', async () => {
    const dest = path.join(work, 'pull-multi-all')
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${site}/multi:2.0`, `oci:${dest}:2.0`)
    const src = await layoutBlobs(layouts.multi!)
    await expectBytesFromSource(dest, layouts.multi!, src.size)
    expect((await layoutBlobs(dest)).size).toBe(src.size)
  })

  it('copies by digest', async () => {
    const dest = path.join(work, 'pull-by-digest')
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${site}/app@${tags.app!['1.0']}`, `oci:${dest}`)
    await expectBytesFromSource(dest, layouts.app!, 3)
  })

  it('picks a child of the index with --override-arch', async () => {
    const dest = path.join(work, 'pull-arm64')
    await skopeo('--override-arch', 'arm64', '--override-variant', 'v8', 'copy', '--preserve-digests', '--src-tls-verify=false', `docker://${site}/multi:2.0`, `oci:${dest}:arm`)
    const multiIndex = JSON.parse((await layoutBlobs(layouts.multi!)).get(tags.multi!['2.0']!)!.toString())
    const arm = multiIndex.manifests.find((m: any) => m.platform.architecture === 'arm64')
    const pulled = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(pulled.manifests[0].digest).toBe(arm.digest)
    await expectBytesFromSource(dest, layouts.multi!, 3)
  })
})

describe('side by side with the reference registry', () => {
  it('pulls the same bytes from docker-registry and from the static site', async () => {
    const registry = await startRegistry()
    try {
      const cases: Array<[string, string]> = [
        ['app', '1.0'],
        ['app', 'latest'],
        ['multi', '2.0'],
        ['org/app', 'v1'],
        ['stack', '0.1'],
      ]
      for (const [repo, tag] of cases) {
        await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layouts[repo]}:${tag}`, `docker://${registry.address}/${repo}:${tag}`)
      }
      for (const [repo, tag] of cases) {
        const fromRegistry = path.join(work, 'side', 'registry', repo, tag)
        const fromSite = path.join(work, 'side', 'site', repo, tag)
        await Promise.all([fs.mkdir(path.dirname(fromRegistry), { recursive: true }), fs.mkdir(path.dirname(fromSite), { recursive: true })])
        await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${registry.address}/${repo}:${tag}`, `oci:${fromRegistry}:${tag}`)
        await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${site}/${repo}:${tag}`, `oci:${fromSite}:${tag}`)
        const diff = await run('diff', ['-r', fromRegistry, fromSite]).then(
          (r) => r.stdout,
          (e: { stdout: string }) => e.stdout || 'diff failed',
        )
        expect(diff, `${repo}:${tag}`).toBe('')
      }
    } finally {
      await registry.stop()
    }
  })
})

/** curl, as a user would run it: status and lower-cased headers. */
async function curl(method: 'GET' | 'HEAD', url: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const args = ['-s', '-D', '-', '-o', '-', ...(method === 'HEAD' ? ['-I'] : []), url]
  const { stdout } = await run('curl', args)
  const [head, ...rest] = stdout.split('\r\n\r\n')
  const [statusLine, ...lines] = head!.split('\r\n')
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}

describe.each(['GET', 'HEAD'] as const)('curl %s on the /v2/ tree', (method) => {
  it('tag and digest manifest URLs have the exact Content-Type; digest URLs carry Docker-Content-Digest, tag URLs none (never a stale one)', async () => {
    const cases = [
      ['app', '1.0', 'application/vnd.oci.image.manifest.v1+json'],
      ['multi', '2.0', 'application/vnd.oci.image.index.v1+json'],
      ['org/app', 'v1', 'application/vnd.oci.image.manifest.v1+json'],
      ['docker', 'd1', 'application/vnd.docker.distribution.manifest.v2+json'],
      // Neither the index entry nor the body names a type: detected from the body's shape.
      ['docker', 'untyped', 'application/vnd.oci.image.manifest.v1+json'],
    ] as const
    for (const [repo, tag, type] of cases) {
      const digest = tags[repo]![tag]!
      for (const ref of [tag, digest]) {
        const res = await curl(method, `http://${site}/v2/${repo}/manifests/${ref}`)
        expect(res.status).toBe(200)
        expect(res.headers['content-type']).toBe(type)
        expect(res.headers['docker-content-digest']).toBe(ref === digest ? digest : undefined)
      }
    }
    // Children of the multi-platform index are reachable by digest too.
    const index = JSON.parse((await curl('GET', `http://${site}/v2/multi/manifests/2.0`)).body)
    for (const child of index.manifests) {
      const res = await curl(method, `http://${site}/v2/multi/manifests/${child.digest}`)
      expect(res.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json')
      expect(res.headers['docker-content-digest']).toBe(child.digest)
    }
  })

  it('blob URLs have Docker-Content-Digest', async () => {
    const manifest = JSON.parse((await curl('GET', `http://${site}/v2/app/manifests/1.0`)).body)
    for (const d of [manifest.config, ...manifest.layers]) {
      const res = await curl(method, `http://${site}/v2/app/blobs/${d.digest}`)
      expect(res.status).toBe(200)
      expect(res.headers['docker-content-digest']).toBe(d.digest)
      expect(Number(res.headers['content-length'])).toBe(d.size)
    }
  })

  it('tags/list, _catalog and /v2/ are correct', async () => {
    const base = await curl(method, `http://${site}/v2/`)
    expect(base.status).toBe(200)
    expect(base.headers['content-type']).toBe('application/json')
    const list = await curl(method, `http://${site}/v2/app/tags/list`)
    expect(list.status).toBe(200)
    const catalog = await curl(method, `http://${site}/v2/_catalog`)
    expect(catalog.status).toBe(200)
    if (method === 'GET') {
      expect(JSON.parse(list.body)).toEqual({ name: 'app', tags: ['1.0', 'latest'] })
      expect(JSON.parse(catalog.body)).toEqual({ repositories: ['app', 'docker', 'multi', 'org/app', 'stack'] })
    }
  })

  it.each([
    ['/v2/nobody/manifests/1.0', 'NAME_UNKNOWN'],
    ['/v2/nobody/tags/list', 'NAME_UNKNOWN'],
    [`/v2/nobody/blobs/sha256:${'a'.repeat(64)}`, 'NAME_UNKNOWN'],
    ['/v2/app/manifests/9.9', 'MANIFEST_UNKNOWN'],
    [`/v2/app/manifests/sha256:${'b'.repeat(64)}`, 'MANIFEST_UNKNOWN'],
    [`/v2/app/blobs/sha256:${'c'.repeat(64)}`, 'BLOB_UNKNOWN'],
  ])('%s is 404 with a %s body', async (p, code) => {
    const res = await curl(method, `http://${site}${p}`)
    expect(res.status).toBe(404)
    expect(res.headers['content-type']).toBe('application/json')
    if (method === 'GET') expect(JSON.parse(res.body).errors[0].code).toBe(code)
  })
})

describe('referrers', () => {
  it('lists the SBOM by the referrers API and by the sha256-<hex> fallback tag', async () => {
    const subject = tags.app!['1.0']!
    const api = await curl('GET', `http://${site}/v2/app/referrers/${subject}`)
    expect(api.status).toBe(200)
    expect(api.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json')
    const index = JSON.parse(api.body)
    expect(index.manifests).toHaveLength(1)
    expect(index.manifests[0].artifactType).toBe(SBOM_TYPE)
    expect(index.manifests[0].annotations['org.opencontainers.image.created']).toBe('2026-01-01T00:00:00Z')
    const fallback = await curl('GET', `http://${site}/v2/app/manifests/sha256-${subject.slice(7)}`)
    expect(fallback.status).toBe(200)
    expect(fallback.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json')
    expect(JSON.parse(fallback.body)).toEqual(index)
    // The SBOM itself is pullable by digest.
    const sbom = await curl('HEAD', `http://${site}/v2/app/manifests/${index.manifests[0].digest}`)
    expect(sbom.status).toBe(200)
    // A subject with no referrers gets an empty index.
    const none = JSON.parse((await curl('GET', `http://${site}/v2/multi/referrers/${tags.multi!['2.0']}`)).body)
    expect(none.manifests).toEqual([])
  })
})

describe('one copy of the bytes', () => {
  it('stores no blob twice on disk: /v2/ files are hard links into oci-cas', async () => {
    // The published tree: ocisite's private state (.ocisite/) is neither served nor counted, nor
    // are the HTML pages (issue 26), which are documents for people, not copies of blobs.
    const { stdout } = await run('find', [out, '-type', 'f', '-not', '-path', '*/.ocisite/*', '-printf', '%i %s %P\n'])
    const pageKinds = new Set(['home', 'page', 'page-asset'])
    const files = (stdout.trim().split('\n').map((l) => l.split(' ')) as Array<[string, string, string]>).filter(([, , p]) => !pageKinds.has(entryOf(p)?.kind ?? ''))
    const casInodes = new Set(files.filter(([, , p]) => p.startsWith('oci-cas/')).map(([i]) => i))
    const v2Documents = new Set(['v2/_base.json', 'v2/_catalog.json'])
    for (const [inode, , p] of files.filter(([, , p]) => p.startsWith('v2/'))) {
      if (v2Documents.has(p) || p.endsWith('/_tags.json')) continue
      expect(casInodes.has(inode), `${p} is not a link into oci-cas`).toBe(true)
    }
    // Size sum over distinct inodes = CAS bytes + the small generated documents.
    const distinct = new Map(files.map(([i, s]) => [i, Number(s)]))
    const total = [...distinct.values()].reduce((a, b) => a + b, 0)
    const cas = files.filter(([, , p]) => p.startsWith('oci-cas/')).reduce((a, [, s]) => a + Number(s), 0)
    const docs = files.filter(([, , p]) => !p.startsWith('oci-cas/') && !casInodes.has(p)).filter(([i]) => !casInodes.has(i)).reduce((a, [, s]) => a + Number(s), 0)
    expect(total).toBe(cas + docs)
    expect(docs).toBeLessThan(8 * 1024)
  })

  it('still serves the discovery round trip from the same site', async () => {
    for (const [repo, byTag] of Object.entries(tags)) {
      for (const [tag, digest] of Object.entries(byTag)) {
        const result = await walkSite(`http://${site}`, repo, tag)
        expect(result.root.digest).toBe(digest)
      }
    }
  })
})

// The generated nginx config as operators deploy it: dropped unchanged into Debian's stock
// nginx (conf.d/), with tags moved under a running server, release directories swapped by
// symlink, several sites in one nginx, IPv4 and IPv6 listeners, TLS with ACME webroot.
import { execFile, execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { ctrDigest, skopeo, skopeoDigest, startContainerd, startPodman } from './helpers/clients.js'
import { ocisite } from './helpers/cli.js'
import { image, multiPlatform, standardLayouts, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'

const run = promisify(execFile)
let work: string

beforeAll(async () => {
  work = await tempDir()
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

/** One plain HTTP request (no redirects followed; `host` sets the Host header): status, headers, body. */
function request(method: 'GET' | 'HEAD', url: string, init: { host?: string } = {}): Promise<{ status: number; headers: { get(name: string): string | null }; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: init.host ? { host: init.host } : {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const h = res.headers
        resolve({ status: res.statusCode ?? 0, headers: { get: (name) => [h[name.toLowerCase()] ?? null].flat()[0] ?? null }, body: Buffer.concat(chunks).toString() })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Build a site with the CLI; the parsed `--json` summary. */
async function build(args: string[]): Promise<{ images: Array<{ path: string; tags: Array<{ tag: string; digest: string }> }> }> {
  const r = await ocisite(['build', ...args, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** A layout with one image tagged `tag`, whose content says `text`. */
async function oneImage(dir: string, tag: string, text: string): Promise<string> {
  const w = await OciLayout.create(dir)
  const desc = await image(w, 'amd64', text)
  await w.addToIndex(desc, tag)
  return desc.digest
}

describe('stock nginx with the config in conf.d', () => {
  it('serves the fixture site with referrers', async () => {
    const dir = path.join(work, 'fixture')
    await standardLayouts(path.join(dir, 'layouts'))
    const port = await freePort()
    const conf = path.join(dir, 'ocisite.conf')
    const built = await build([path.join(dir, 'layouts'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', conf, '--listen', `127.0.0.1:${port}`])
    const nginx = await startNginx([conf], port)
    try {
      expect(nginx.testOutput).toContain('test is successful')
      const app = built.images.find((i) => i.path === 'app')!.tags[0]!.digest
      const referrers = await request('GET', `http://127.0.0.1:${port}/v2/app/referrers/${app}`)
      expect(referrers.status).toBe(200)
      expect(referrers.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json')
      expect(JSON.parse(referrers.body).manifests).toHaveLength(1)
      const index = await request('GET', `http://127.0.0.1:${port}/oci-index/org%2Fapp`)
      expect(index.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json; charset=utf-8')
      expect(await skopeoDigest(`127.0.0.1:${port}/app:1.0`)).toBe(app)
    } finally {
      await nginx.stop()
    }
  })

  it('serves a site with 10,000 tags', async () => {
    const dir = path.join(work, 'many')
    const w = await OciLayout.create(path.join(dir, 'layout'))
    const desc = await image(w, 'amd64', 'many tags')
    const tags = Array.from({ length: 10_000 }, (_, i) => `release-candidate-build-${String(i).padStart(5, '0')}`)
    await w.writeIndex(tags.map((tag) => ({ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } })))
    const port = await freePort()
    const conf = path.join(dir, 'ocisite.conf')
    await build([path.join(dir, 'layout'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', conf, '--listen', `127.0.0.1:${port}`])
    const nginx = await startNginx([conf], port)
    try {
      for (const tag of [tags[0]!, tags[4_999]!, tags[9_999]!]) {
        const res = await request('HEAD', `http://127.0.0.1:${port}/v2/layout/manifests/${tag}`)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json')
      }
      const list = JSON.parse((await request('GET', `http://127.0.0.1:${port}/v2/layout/tags/list`)).body)
      expect(list.tags).toHaveLength(10_000)
    } finally {
      await nginx.stop()
    }
  })

  it('runs two hosts on one port, and one host on two ports, in one nginx', async () => {
    const dir = path.join(work, 'multi-site')
    const [p1, p2] = [await freePort(), await freePort()]
    const sites = [
      { name: 'a', host: 'a.example.test', port: p1, text: 'site a' },
      { name: 'b', host: 'b.example.test', port: p1, text: 'site b' },
      { name: 'a-staging', host: 'a.example.test', port: p2, text: 'site a staging' },
    ]
    const confs: string[] = []
    const digests: Record<string, string> = {}
    for (const s of sites) {
      digests[s.name] = await oneImage(path.join(dir, s.name, 'layouts', 'app'), 'latest', s.text)
      const conf = path.join(dir, `${s.name}.conf`)
      await build([path.join(dir, s.name, 'layouts'), '--host', s.host, '--out', path.join(dir, s.name, 'public'), '--nginx', conf, '--listen', `127.0.0.1:${s.port}`])
      confs.push(conf)
    }
    const nginx = await startNginx(confs, [p1, p2])
    try {
      for (const s of sites) {
        const index = await request('GET', `http://127.0.0.1:${s.port}/oci-index/app`, { host: s.host })
        expect(JSON.parse(index.body).manifests[0].digest, s.name).toBe(digests[s.name])
        const tag = await request('GET', `http://127.0.0.1:${s.port}/v2/app/manifests/latest`, { host: s.host })
        expect(tag.status).toBe(200)
        expect(tag.headers.get('docker-content-digest')).toBeNull()
        const byDigest = await request('HEAD', `http://127.0.0.1:${s.port}/v2/app/manifests/${digests[s.name]}`, { host: s.host })
        expect(byDigest.headers.get('docker-content-digest')).toBe(digests[s.name])
      }
    } finally {
      await nginx.stop()
    }
  })

  it('gives byte-identical configs for different inputs with the same options', async () => {
    const dir = path.join(work, 'same-options')
    await oneImage(path.join(dir, 'one', 'app'), '1.0', 'one')
    await oneImage(path.join(dir, 'two', 'other'), '2.0', 'two')
    const options = ['--host', 'example.com', '--root', '/srv/site/current', '--listen', '127.0.0.1:8080']
    await build([path.join(dir, 'one'), '--out', path.join(dir, 'out1'), '--nginx', path.join(dir, '1.conf'), ...options])
    await build([path.join(dir, 'two'), '--out', path.join(dir, 'out2'), '--nginx', path.join(dir, '2.conf'), ...options])
    expect(await fs.readFile(path.join(dir, '1.conf'), 'utf8')).toBe(await fs.readFile(path.join(dir, '2.conf'), 'utf8'))
  })
})

describe('a tag moved under a running nginx (no reload)', () => {
  let dir: string
  let port: number
  let nginx: RunningNginx
  let first: string
  let second: string
  const args = () => [path.join(dir, 'layouts'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', path.join(dir, 'ocisite.conf'), '--listen', `127.0.0.1:${port}`]

  beforeAll(async () => {
    dir = path.join(work, 'moved')
    port = await freePort()
    first = await oneImage(path.join(dir, 'layouts', 'app'), 'latest', 'the first latest')
    await build(args())
    nginx = await startNginx([path.join(dir, 'ocisite.conf')], port)
  })
  afterAll(async () => {
    await nginx?.stop()
  })

  it('skopeo, podman and ctr all get the new digest, and the tag never carries the old one', async () => {
    const ref = `127.0.0.1:${port}/app:latest`
    expect(await skopeoDigest(ref)).toBe(first)
    const before = await request('HEAD', `http://${ref.replace('/app:latest', '')}/v2/app/manifests/latest`)
    expect(before.headers.get('docker-content-digest')).not.toBe(second)

    // Move `latest` to another image and rebuild into the same directory; nginx is not reloaded.
    await fs.rm(path.join(dir, 'layouts', 'app'), { recursive: true })
    second = await oneImage(path.join(dir, 'layouts', 'app'), 'latest', 'the second latest')
    expect(second).not.toBe(first)
    await build(args())

    const head = await request('HEAD', `http://127.0.0.1:${port}/v2/app/manifests/latest`)
    expect(head.status).toBe(200)
    expect(head.headers.get('docker-content-digest')).not.toBe(first)
    expect([null, second]).toContain(head.headers.get('docker-content-digest'))

    expect(await skopeoDigest(ref)).toBe(second)
    const podman = await startPodman()
    try {
      await podman.podman('pull', '--tls-verify=false', ref)
      expect((await podman.podman('image', 'inspect', '--format', '{{.Digest}}', ref)).trim()).toBe(second)
    } finally {
      await podman.stop()
    }
    const containerd = await startContainerd()
    try {
      await containerd.ctr('images', 'pull', '--plain-http', ref)
      expect(await ctrDigest(containerd.ctr, ref)).toBe(second)
    } finally {
      await containerd.stop()
    }
  })
})

describe('a release directory swapped by symlink', () => {
  it('serves the new release after an atomic swap, with no reload and no 404', async () => {
    const dir = path.join(work, 'releases')
    const port = await freePort()
    const current = path.join(dir, 'current')
    const options = (n: number) => [path.join(dir, `in${n}`), '--host', 'localhost', '--out', path.join(dir, 'releases', String(n)), '--root', current, '--nginx', path.join(dir, `site${n}.conf`), '--listen', `127.0.0.1:${port}`]
    const first = await oneImage(path.join(dir, 'in1', 'app'), '1.0', 'release one')
    await build(options(1))
    await fs.symlink('releases/1', current)
    const nginx = await startNginx([path.join(dir, 'site1.conf')], port)
    try {
      expect(await skopeoDigest(`127.0.0.1:${port}/app:1.0`)).toBe(first)
      const second = await oneImage(path.join(dir, 'in2', 'app'), '1.0', 'release two')
      await build(options(2))
      expect(await fs.readFile(path.join(dir, 'site2.conf'), 'utf8')).toBe(await fs.readFile(path.join(dir, 'site1.conf'), 'utf8'))

      // Keep consumers busy while the symlink is swapped (rename over it: atomic).
      let swapping = true
      const statuses: number[] = []
      const paths = ['/.well-known/oci-host-ref-engines', '/oci-index/app', '/v2/app/manifests/1.0', '/v2/app/tags/list']
      const load = (async () => {
        while (swapping) for (const p of paths) statuses.push((await request('GET', `http://127.0.0.1:${port}${p}`)).status)
      })()
      await new Promise((r) => setTimeout(r, 200))
      await fs.symlink('releases/2', path.join(dir, 'current.new'))
      await fs.rename(path.join(dir, 'current.new'), current)
      await new Promise((r) => setTimeout(r, 200))
      swapping = false
      await load
      expect(statuses.length).toBeGreaterThan(8)
      expect(statuses.filter((s) => s !== 200)).toEqual([])

      expect(await skopeoDigest(`127.0.0.1:${port}/app:1.0`)).toBe(second)
      const index = JSON.parse((await request('GET', `http://127.0.0.1:${port}/oci-index/app`)).body)
      expect(index.manifests[0].digest).toBe(second)
    } finally {
      await nginx.stop()
    }
  })

  it('still refuses a symlink inside the site', async () => {
    const dir = path.join(work, 'inner-link')
    const port = await freePort()
    await oneImage(path.join(dir, 'in', 'app'), '1.0', 'inner link')
    await build([path.join(dir, 'in'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', path.join(dir, 'site.conf'), '--listen', `127.0.0.1:${port}`])
    await fs.writeFile(path.join(dir, 'secret'), 'not for the web\n')
    await fs.chmod(path.join(dir, 'secret'), 0o644)
    await fs.symlink(path.join(dir, 'secret'), path.join(dir, 'public', 'oci-index', 'leak'))
    const nginx = await startNginx([path.join(dir, 'site.conf')], port)
    try {
      expect((await request('GET', `http://127.0.0.1:${port}/oci-index/app`)).status).toBe(200)
      const leak = await request('GET', `http://127.0.0.1:${port}/oci-index/leak`)
      expect(leak.status).not.toBe(200)
      expect(leak.body).not.toContain('not for the web')
    } finally {
      await nginx.stop()
    }
  })
})

/** True when this machine can listen on the IPv6 loopback. */
async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen(0, '::1', () => srv.close(() => resolve(true)))
  })
}

describe('listening', () => {
  it('serves on IPv4 and IPv6 with a repeated --listen', async () => {
    const dir = path.join(work, 'listen')
    const port = await freePort()
    const v6 = await hasIpv6Loopback()
    if (!v6) console.warn('SKIPPED the IPv6 half: this machine has no IPv6 loopback (::1)')
    await oneImage(path.join(dir, 'in', 'app'), '1.0', 'both families')
    const conf = path.join(dir, 'site.conf')
    await build([path.join(dir, 'in'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', conf, '--listen', `127.0.0.1:${port}`, ...(v6 ? ['--listen', `[::1]:${port}`] : [])])
    const nginx = await startNginx([conf], port)
    try {
      const urls = [`http://127.0.0.1:${port}`, ...(v6 ? [`http://[::1]:${port}`] : [])]
      for (const base of urls) {
        const res = await request('GET', `${base}/.well-known/oci-host-ref-engines`)
        expect(res.status, base).toBe(200)
        expect(res.headers.get('content-type')).toBe('application/vnd.oci.ref-engines.v1+json; charset=utf-8')
      }
    } finally {
      await nginx.stop()
    }
  })

  it('with TLS: ACME challenges over plain HTTP, redirects that keep the port, paths with spaces', async () => {
    const dir = path.join(work, 'tls with space')
    const certDir = path.join(dir, 'certs and keys')
    const acme = path.join(dir, 'acme root')
    await fs.mkdir(certDir, { recursive: true })
    await fs.mkdir(path.join(acme, '.well-known', 'acme-challenge'), { recursive: true })
    for (const d of [dir, acme, path.join(acme, '.well-known'), path.join(acme, '.well-known', 'acme-challenge')]) await fs.chmod(d, 0o755)
    await fs.writeFile(path.join(acme, '.well-known', 'acme-challenge', 'token-123'), 'token-123.thumbprint')
    await fs.chmod(path.join(acme, '.well-known', 'acme-challenge', 'token-123'), 0o644)
    const cert = path.join(certDir, 'site cert.pem')
    const key = path.join(certDir, 'site key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' })
    const [http, https] = [await freePort(), await freePort()]
    await oneImage(path.join(dir, 'in', 'app'), '1.0', 'over tls')
    const conf = path.join(dir, 'site.conf')
    const out = path.join(dir, 'public site')
    await build([path.join(dir, 'in'), '--host', 'localhost', '--out', out, '--nginx', conf, '--listen', `127.0.0.1:${https}`, '--http-listen', `127.0.0.1:${http}`, '--tls-cert', cert, '--tls-key', key, '--acme-root', acme])
    expect(await fs.readFile(conf, 'utf8')).toContain(`root "${out}";`)
    const nginx = await startNginx([conf], [http, https])
    try {
      const challenge = await request('GET', `http://127.0.0.1:${http}/.well-known/acme-challenge/token-123`)
      expect(challenge.status).toBe(200)
      expect(challenge.body).toBe('token-123.thumbprint')
      const redirect = await request('GET', `http://127.0.0.1:${http}/v2/app/manifests/1.0?x=1`)
      expect(redirect.status).toBe(301)
      expect(redirect.headers.get('location')).toBe(`https://127.0.0.1:${https}/v2/app/manifests/1.0?x=1`)
      const { stdout } = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code} %{content_type}', `https://127.0.0.1:${https}/oci-index/app`])
      expect(stdout).toBe('200 application/vnd.oci.image.index.v1+json; charset=utf-8')
      const overTls = await run('curl', ['-sk', `https://127.0.0.1:${https}/.well-known/acme-challenge/token-123`])
      expect(overTls.stdout).toBe('token-123.thumbprint')
      expect(await skopeo('inspect', '--tls-verify=false', `docker://127.0.0.1:${https}/app:1.0`)).toContain('"Digest"')
    } finally {
      await nginx.stop()
    }
  })

  it.each([
    ['a root with a quote', ['--root', '/srv/it"s']],
    ['a root with a dollar', ['--root', '/srv/$site']],
    ['a listen address nginx cannot take', ['--listen', 'example.com']],
    ['a port out of range', ['--listen', '127.0.0.1:70000']],
    ['--http-listen without TLS', ['--http-listen', '8080']],
  ])('refuses %s with exit 2 and one line, writing nothing', async (_, extra) => {
    const dir = await tempDir()
    await oneImage(path.join(dir, 'in', 'app'), '1.0', 'refused')
    const r = await ocisite(['build', path.join(dir, 'in'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', path.join(dir, 'site.conf'), ...extra])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    await expect(fs.stat(path.join(dir, 'public'))).rejects.toThrow()
    await expect(fs.stat(path.join(dir, 'site.conf'))).rejects.toThrow()
    await fs.rm(dir, { recursive: true, force: true })
  })
})

describe('registry clients pull from stock nginx', () => {
  let dir: string
  let port: number
  let nginx: RunningNginx
  let tags: Record<string, Record<string, string>>
  let multiIndex: { manifests: Array<{ digest: string; platform: { architecture: string } }> }

  beforeAll(async () => {
    dir = path.join(work, 'clients')
    const w = await OciLayout.create(path.join(dir, 'layouts', 'multi'))
    await w.addToIndex(await multiPlatform(w, 'clients'), '2.0')
    await oneImage(path.join(dir, 'layouts', 'app'), '1.0', 'clients single')
    port = await freePort()
    const built = await build([path.join(dir, 'layouts'), '--host', 'localhost', '--out', path.join(dir, 'public'), '--nginx', path.join(dir, 'site.conf'), '--listen', `127.0.0.1:${port}`])
    tags = Object.fromEntries(built.images.map((i) => [i.path, Object.fromEntries(i.tags.map((t) => [t.tag, t.digest]))]))
    nginx = await startNginx([path.join(dir, 'site.conf')], port)
    multiIndex = JSON.parse((await request('GET', `http://127.0.0.1:${port}/v2/multi/manifests/2.0`)).body)
  })
  afterAll(async () => {
    await nginx?.stop()
  })

  const arch = () => ({ x64: 'amd64', arm64: 'arm64' })[os.arch()] ?? os.arch()

  it('skopeo copies a single-platform tag, a multi-platform tag (--all) and a digest', async () => {
    for (const ref of [`app:1.0`, `multi:2.0`, `app@${tags.app!['1.0']}`]) {
      const dest = await tempDir()
      await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://127.0.0.1:${port}/${ref}`, `oci:${dest}:x`)
      const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
      const expected = ref.includes('@') ? ref.split('@')[1] : tags[ref.split(':')[0]!]![ref.split(':')[1]!]
      expect(index.manifests[0].digest).toBe(expected)
      await fs.rm(dest, { recursive: true })
    }
  })

  it('podman pulls a single-platform tag, a multi-platform tag and a digest', async () => {
    const podman = await startPodman()
    try {
      await podman.podman('pull', '--tls-verify=false', `127.0.0.1:${port}/app:1.0`)
      expect((await podman.podman('image', 'inspect', '--format', '{{.Digest}}', `127.0.0.1:${port}/app:1.0`)).trim()).toBe(tags.app!['1.0'])
      await podman.podman('pull', '--tls-verify=false', `127.0.0.1:${port}/multi:2.0`)
      const digests = await podman.podman('image', 'inspect', '--format', '{{.Digest}} {{range .RepoDigests}}{{.}} {{end}}', `127.0.0.1:${port}/multi:2.0`)
      const child = multiIndex.manifests.find((m) => m.platform.architecture === arch())
      expect(digests).toContain(child ? child.digest : tags.multi!['2.0'])
      await podman.podman('pull', '--tls-verify=false', `127.0.0.1:${port}/app@${tags.app!['1.0']}`)
      expect(await podman.podman('images', '--digests')).toContain(tags.app!['1.0'])
    } finally {
      await podman.stop()
    }
  })

  it('containerd (ctr) pulls a single-platform tag, a multi-platform tag and a digest', async () => {
    const containerd = await startContainerd()
    try {
      for (const ref of [`127.0.0.1:${port}/app:1.0`, `127.0.0.1:${port}/multi:2.0`, `127.0.0.1:${port}/app@${tags.app!['1.0']}`]) {
        await containerd.ctr('images', 'pull', '--plain-http', ref)
      }
      expect(await ctrDigest(containerd.ctr, `127.0.0.1:${port}/app:1.0`)).toBe(tags.app!['1.0'])
      expect(await ctrDigest(containerd.ctr, `127.0.0.1:${port}/multi:2.0`)).toBe(tags.multi!['2.0'])
      expect(await ctrDigest(containerd.ctr, `127.0.0.1:${port}/app@${tags.app!['1.0']}`)).toBe(tags.app!['1.0'])
    } finally {
      await containerd.stop()
    }
  })
})

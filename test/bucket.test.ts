// Deploying a site into an S3-compatible bucket: s3rver (a real S3 API, in website mode) on
// 127.0.0.1, Debian's awscli as the independent reader, and Debian's nginx in front as a caching
// reverse proxy (the "CDN"). Consumers pull through it with ocisite, skopeo, ctr and podman.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { MediaType } from '../src/oci/media-types.js'
import { ocisite } from './helpers/cli.js'
import { ctrDigest, skopeo, startContainerd, startPodman } from './helpers/clients.js'
import { image, standardLayouts, tarLayer, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, stopChild, waitForPort, type RunningNginx } from './helpers/nginx.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const HOST = 'localhost'
const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1' }
const WEBSITE = '<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>'
const BUCKETS = ['site', 'fresh', 'empty', 'order', 'outage']

let work: string
let L: Record<string, string>
let site: string
let s3: { port: number; dir: string; child: ChildProcess }
let s3port: number
let cdn: RunningNginx
let cdnPort: number
let logProxy: RunningNginx
let logPort: number

/** s3rver in its own process (so a test can kill it), every test bucket in website mode. */
async function startS3rver(dir: string, port: number): Promise<ChildProcess> {
  const website = path.join(work, 'website.xml')
  await fs.writeFile(website, WEBSITE)
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/helpers/s3rver-main.ts'), dir, String(port), website, ...BUCKETS], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  await waitForPort(port, 20_000)
  return child
}

/**
 * S3 never shows a PUT that did not finish; s3rver, killed with -9, can leave one half-written
 * on disk (an object file with no metadata yet, or a metadata file cut short, which then fails
 * every listing with InternalError). Drop those, as S3 would never have stored them: what is
 * under test is the order of ocisite's uploads, not s3rver's own crash safety.
 */
async function dropUnfinishedPuts(bucketDir: string): Promise<void> {
  const suffix = '._S3rver_object'
  for (const f of await fs.readdir(bucketDir, { recursive: true })) {
    if (!f.endsWith(suffix)) continue
    const object = path.join(bucketDir, f)
    const metadata = `${object.slice(0, -'object'.length)}metadata.json`
    const finished = await fs.readFile(metadata, 'utf8').then((t) => { JSON.parse(t); return true }, () => false)
    if (!finished) await Promise.all([object, `${object}.md5`, metadata].map((x) => fs.rm(x, { force: true })))
  }
}

const endpoint = (port = s3port) => ['--endpoint', `http://127.0.0.1:${port}`, '--path-style']
const deploy = (args: string[], env: Record<string, string> = creds) => ocisite(['deploy', ...args], { env })

/** Debian's awscli (not the SDK ocisite uses) reading what was uploaded. */
async function headObject(bucket: string, key: string): Promise<{ ContentType?: string; CacheControl?: string; WebsiteRedirectLocation?: string; ContentLength?: number }> {
  const { stdout } = await run('/usr/bin/aws', ['s3api', 'head-object', '--endpoint-url', `http://127.0.0.1:${s3port}`, '--bucket', bucket, '--key', key], { env: { ...process.env, ...creds } })
  return JSON.parse(stdout)
}

async function listKeys(bucket: string): Promise<string[]> {
  const { stdout } = await run('/usr/bin/aws', ['s3api', 'list-objects-v2', '--endpoint-url', `http://127.0.0.1:${s3port}`, '--bucket', bucket, '--output', 'json'], { env: { ...process.env, ...creds } })
  return stdout.trim() ? ((JSON.parse(stdout) as { Contents?: Array<{ Key: string }> }).Contents ?? []).map((c) => c.Key).sort() : []
}

/** An object's bytes, by a plain GET on the REST endpoint (s3rver serves anonymous reads). */
async function getObject(bucket: string, key: string): Promise<Buffer> {
  const res = await fetch(`http://127.0.0.1:${s3port}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, { redirect: 'manual' })
  // A blob's /v2/ object is an empty redirect (the bucket is in website mode).
  if (res.status === 301) return Buffer.alloc(0)
  if (res.status !== 200) throw new Error(`GET ${bucket}/${key}: HTTP ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

/** The site's documents, read back from a bucket: for each key, the keys it points at (independent of ocisite's code). */
async function references(bucket: string, keys: string[]): Promise<Map<string, string[]>> {
  const has = new Set(keys)
  const cas = (digest: string) => {
    const [alg, hex] = digest.split(':') as [string, string]
    return `oci-cas/${alg}/${hex.slice(0, 2)}/${hex}`
  }
  const refs = new Map<string, string[]>()
  const dag = async (digest: string, into: Set<string>) => {
    const key = cas(digest)
    into.add(key)
    if (!has.has(key)) return
    const bytes = await getObject(bucket, key)
    let doc: { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> }
    try {
      doc = JSON.parse(bytes.toString('utf8'))
    } catch {
      return
    }
    // Only manifests and indexes name other blobs (an image config has a "config" of its own).
    if ((doc as { schemaVersion?: unknown })?.schemaVersion !== 2) return
    for (const d of [...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) await dag(d.digest, into)
  }
  for (const key of keys) {
    let m: RegExpExecArray | null
    if (key.startsWith('oci-index/')) {
      const into = new Set<string>()
      for (const e of JSON.parse((await getObject(bucket, key)).toString('utf8')).manifests) await dag(e.digest, into)
      refs.set(key, [...into])
    } else if ((m = /^v2\/(.+)\/blobs\/(.+)$/.exec(key))) refs.set(key, [cas(m[2]!)])
    else if ((m = /^v2\/(.+)\/(manifests|referrers)\/(.+)$/.exec(key))) {
      const doc = JSON.parse((await getObject(bucket, key)).toString('utf8'))
      const r = m[2] === 'referrers' ? [] : [...(doc.manifests ?? []).map((d: { digest: string }) => `v2/${m![1]}/manifests/${d.digest}`), ...[doc.config, ...(doc.layers ?? [])].filter(Boolean).map((d: { digest: string }) => `v2/${m![1]}/blobs/${d.digest}`)]
      if (m[2] === 'referrers') for (const d of doc.manifests ?? []) r.push(`v2/${m[1]}/manifests/${d.digest}`)
      refs.set(key, r)
    } else if ((m = /^v2\/(.+)\/tags\/list$/.exec(key))) refs.set(key, JSON.parse((await getObject(bucket, key)).toString('utf8')).tags.map((t: string) => `v2/${m![1]}/manifests/${t}`))
    else if (key === 'v2/_catalog') refs.set(key, JSON.parse((await getObject(bucket, key)).toString('utf8')).repositories.map((r: string) => `v2/${r}/tags/list`))
  }
  return refs
}

/** Every reference in the bucket resolves to an object in it. */
async function dangling(bucket: string): Promise<string[]> {
  const keys = await listKeys(bucket)
  const has = new Set(keys)
  const out: string[] = []
  for (const [key, targets] of await references(bucket, keys)) for (const t of targets) if (!has.has(t)) out.push(`${key} → ${t}`)
  return out
}

/** The blob files of a layout, by digest. */
async function blobFiles(layout: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const alg of await fs.readdir(path.join(layout, 'blobs')).catch(() => [])) {
    for (const hex of await fs.readdir(path.join(layout, 'blobs', alg))) out.set(`${alg}:${hex}`, path.join(layout, 'blobs', alg, hex))
  }
  return out
}

/** Every blob of a pulled layout is byte-identical to the same blob in one of the source layouts. */
async function expectSameBlobs(pulled: string, sources: string[]) {
  const all = new Map<string, string>()
  for (const s of sources) for (const [d, f] of await blobFiles(s)) all.set(d, f)
  const got = await blobFiles(pulled)
  expect(got.size).toBeGreaterThan(0)
  for (const [digest, file] of got) {
    const bytes = await fs.readFile(file)
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(digest)
    if (all.has(digest)) expect(bytes.equals(await fs.readFile(all.get(digest)!)), digest).toBe(true)
  }
}

beforeAll(async () => {
  work = await tempDir()
  L = await standardLayouts(path.join(work, 'layouts'))
  const dir = path.join(work, 'site-src')
  await fs.mkdir(dir)
  await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: HOST, images: Object.entries(L).map(([p, from]) => ({ path: p, from })) }))
  site = path.join(work, 'site')
  const built = await ocisite(['build', '--config', path.join(dir, 'ocisite.json'), '--out', site])
  expect(built.code, built.stderr).toBe(0)
  s3port = await freePort()
  const data = path.join(work, 's3')
  await fs.mkdir(data)
  s3 = { port: s3port, dir: data, child: await startS3rver(data, s3port) }
  // The "CDN": nginx caching what the bucket's website endpoint answers.
  cdnPort = await freePort()
  const cdnConf = path.join(work, 'cdn.conf')
  await fs.writeFile(
    cdnConf,
    `proxy_cache_path /var/lib/nginx/ocisite-cdn levels=1:2 keys_zone=ocisite_cdn:10m;
server {
    listen 127.0.0.1:${cdnPort};
    location / {
        proxy_pass http://127.0.0.1:${s3port};
        proxy_set_header Host site.s3-website-us-east-1.amazonaws.com;
        proxy_cache ocisite_cdn;
        proxy_cache_valid 200 301 404 10s;
        add_header X-Cache $upstream_cache_status;
    }
}
`,
  )
  // A logging proxy on the S3 API, so the order of uploads is seen from outside ocisite.
  logPort = await freePort()
  const logConf = path.join(work, 'log.conf')
  await fs.writeFile(
    logConf,
    `log_format ocisite_order '$msec $request_time $request_method $status $request_uri';
server {
    listen 127.0.0.1:${logPort};
    client_max_body_size 0;
    access_log /var/log/nginx/s3-order.log ocisite_order;
    location / {
        proxy_pass http://127.0.0.1:${s3port};
        proxy_set_header Host $http_host;
        proxy_request_buffering off;
    }
}
`,
  )
  cdn = await startNginx([cdnConf], cdnPort)
  logProxy = await startNginx([logConf], logPort)
})

afterAll(async () => {
  await cdn?.stop()
  await logProxy?.stop()
  if (s3?.child) await stopChild(s3.child, 'SIGTERM')
  await fs.rm(work, { recursive: true, force: true })
})

describe('deploy into s3rver', () => {
  let digests: { app: string; manifest: { config: { digest: string }; layers: Array<{ digest: string }> }; sbomSubject: string }

  beforeAll(async () => {
    const r = await deploy([site, 's3://site', ...endpoint(), '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result.objects.uploaded).toBe(result.objects.total)
    const index = JSON.parse(await fs.readFile(path.join(site, 'oci-index/app'), 'utf8'))
    const app = index.manifests.find((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === '1.0').digest
    const hex = app.split(':')[1]
    const manifest = JSON.parse(await fs.readFile(path.join(site, 'oci-cas/sha256', hex.slice(0, 2), hex), 'utf8'))
    digests = { app, manifest, sbomSubject: app }
  })

  it('awscli sees every kind of object with the Content-Type and Cache-Control the route table gives, and blobs as redirects', async () => {
    const doc = 'public, max-age=60'
    const immutable = 'public, max-age=31536000, immutable'
    const layer = digests.manifest.layers[0]!.digest
    const layerHex = layer.split(':')[1]!
    const cases: Array<[string, string | undefined, string, string?]> = [
      ['.well-known/oci-host-ref-engines', `${MediaType.refEngines}; charset=utf-8`, doc],
      ['oci-index/app', `${MediaType.ociIndex}; charset=utf-8`, doc],
      ['oci-index/org/app', `${MediaType.ociIndex}; charset=utf-8`, doc],
      [`oci-cas/sha256/${layerHex.slice(0, 2)}/${layerHex}`, MediaType.octetStream, immutable],
      ['v2/index.html', MediaType.json, doc],
      ['v2/_catalog', MediaType.json, doc],
      ['v2/app/tags/list', MediaType.json, doc],
      ['v2/org/app/tags/list', MediaType.json, doc],
      ['v2/app/manifests/1.0', MediaType.ociManifest, doc],
      [`v2/app/manifests/${digests.app}`, MediaType.ociManifest, immutable],
      ['v2/multi/manifests/2.0', MediaType.ociIndex, doc],
      [`v2/app/referrers/${digests.sbomSubject}`, MediaType.ociIndex, doc],
      [`v2/app/blobs/${layer}`, undefined, immutable, `/oci-cas/sha256/${layerHex.slice(0, 2)}/${layerHex}`],
      [`v2/app/blobs/${digests.manifest.config.digest}`, undefined, immutable, `/oci-cas/sha256/${digests.manifest.config.digest.slice(7, 9)}/${digests.manifest.config.digest.slice(7)}`],
    ]
    const heads = await Promise.all(cases.map(([key]) => headObject('site', key)))
    for (const [i, [key, type, cache, redirect]] of cases.entries()) {
      const head = heads[i]!
      if (type) expect(head.ContentType, key).toBe(type)
      expect(head.CacheControl, key).toBe(cache)
      expect(head.WebsiteRedirectLocation, key).toBe(redirect)
      if (redirect) expect(head.ContentLength, key).toBe(0)
    }
    expect(await dangling('site')).toEqual([])
  })

  it('ocisite resolve and pull round-trip every fixture tag through the CDN, nested paths included', async () => {
    const http = ['--protocol', 'http', '--port', String(cdnPort)]
    const tags: Array<[string, string]> = [['app', '1.0'], ['app', 'latest'], ['multi', '2.0'], ['org/app', 'v1'], ['stack', '0.1']]
    for (const [p, tag] of tags) {
      const name = `${HOST}/${p}#${tag}`
      const resolved = await ocisite(['resolve', ...http, name, '--json'])
      expect(resolved.code, resolved.stderr).toBe(0)
      const expected = JSON.parse(await fs.readFile(path.join(site, 'oci-index', p), 'utf8')).manifests.find((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === tag).digest
      expect(JSON.parse(resolved.stdout)[name][0].descriptor.digest).toBe(expected)
      const dest = path.join(await tempDir(), 'pulled')
      const pulled = await ocisite(['pull', ...http, '--all-platforms', name, dest])
      expect(pulled.code, pulled.stderr).toBe(0)
      await expectSameBlobs(dest, [L[p]!])
    }
  })

  it('verify passes through the CDN (types, caching, sizes, /v2/ with blob redirects)', async () => {
    const r = await ocisite(['verify', `http://127.0.0.1:${cdnPort}`, '--deep', '--json'])
    const result = JSON.parse(r.stdout)
    expect(result.problems).toEqual([])
    expect(result.v2).toBe(true)
    expect(r.code).toBe(0)
  })

  it('skopeo copies a single-platform tag, a multi-platform tag with --all, and a digest', async () => {
    const reg = `127.0.0.1:${cdnPort}`
    const d1 = path.join(await tempDir(), 'one')
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg}/app:1.0`, `oci:${d1}:1.0`)
    await expectSameBlobs(d1, [L.app!])
    const d2 = path.join(await tempDir(), 'multi')
    await skopeo('copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${reg}/multi:2.0`, `oci:${d2}:2.0`)
    await expectSameBlobs(d2, [L.multi!])
    const d3 = path.join(await tempDir(), 'digest')
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg}/org/app@${JSON.parse(await fs.readFile(path.join(site, 'oci-index/org/app'), 'utf8')).manifests[0].digest}`, `oci:${d3}`)
    await expectSameBlobs(d3, [L['org/app']!])
    // An image the bucket does not have is a 404, as a registry answers.
    await expect(skopeo('inspect', '--tls-verify=false', `docker://${reg}/nope:1.0`)).rejects.toThrow(/manifest unknown|not found|404/i)
  })

  it('ctr images pull --plain-http and podman pull a tag', async () => {
    const ref = `127.0.0.1:${cdnPort}/app:1.0`
    const containerd = await startContainerd()
    try {
      await containerd.ctr('images', 'pull', '--plain-http', ref)
      expect(await ctrDigest(containerd.ctr, ref)).toBe(digests.app)
      const out = path.join(await tempDir(), 'ctr.tar')
      await containerd.ctr('images', 'export', '--platform', 'linux/amd64', out, ref)
      const dir = path.join(await tempDir(), 'ctr-layout')
      await fs.mkdir(dir)
      await run('tar', ['-xf', out, '-C', dir])
      await expectSameBlobs(dir, [L.app!])
    } finally {
      await containerd.stop()
    }
    const podman = await startPodman()
    try {
      await podman.podman('pull', '--tls-verify=false', ref)
      expect((await podman.podman('image', 'inspect', '--format', '{{.Digest}}', ref)).trim()).toBe(digests.app)
    } finally {
      await podman.stop()
    }
  })
})

describe('incremental deploys', () => {
  it('an unchanged site uploads nothing; a new tag uploads only its objects and the documents that changed; --delete removes what went, and only that', async () => {
    const dir = path.join(work, 'incr')
    await fs.cp(site, dir, { recursive: true })
    const first = JSON.parse((await deploy([dir, 's3://fresh', ...endpoint(), '--json'])).stdout)
    expect(first.objects.uploaded).toBe(first.objects.total)
    const again = await deploy([dir, 's3://fresh', ...endpoint(), '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout).objects.uploaded).toBe(0)

    // One new tag of a new image.
    const w = await OciLayout.create(path.join(work, 'layouts', 'extra'))
    const extra = await image(w, 'amd64', 'extra image')
    await w.addToIndex(extra, '3.0')
    expect((await ocisite(['add', w.paths.root, '--path', 'extra', '--site', dir])).code).toBe(0)
    const before = new Map<string, Buffer>()
    for (const key of await listKeys('fresh')) if (!key.startsWith('oci-cas/')) before.set(key, await getObject('fresh', key))
    const third = await deploy([dir, 's3://fresh', ...endpoint(), '--json'])
    expect(third.code, third.stderr).toBe(0)
    const uploaded: string[] = JSON.parse(third.stdout).uploaded
    const extraBlobs = [...(await blobFiles(w.paths.root)).keys()].map((d) => `oci-cas/sha256/${d.slice(7, 9)}/${d.slice(7)}`)
    for (const key of uploaded) {
      // (A new image brings its page too, since issue 26.)
      const isNew = extraBlobs.includes(key) || key.startsWith('v2/extra/') || key === 'oci-index/extra' || key.startsWith('_/extra/')
      const changed = before.has(key) && !(await getObject('fresh', key)).equals(before.get(key)!)
      expect(isNew || changed, `${key} was uploaded but is neither new nor changed`).toBe(true)
    }
    for (const key of [...extraBlobs, 'oci-index/extra', 'v2/extra/tags/list', 'v2/extra/manifests/3.0', 'v2/_catalog']) expect(uploaded).toContain(key)

    // Remove a whole image, prune its blobs, deploy with --delete.
    expect((await ocisite(['rm', 'multi', '--site', dir])).code).toBe(0)
    expect((await ocisite(['prune', '--site', dir, '--grace', '0'])).code).toBe(0)
    const del = JSON.parse((await deploy([dir, 's3://fresh', ...endpoint(), '--delete', '--json'])).stdout)
    expect(del.deleted.length).toBeGreaterThan(0)
    expect(del.deleted.some((k: string) => k.startsWith('oci-cas/'))).toBe(true)
    const keys = await listKeys('fresh')
    expect(keys.filter((k) => k.includes('multi'))).toEqual([])
    // Exactly what a first deploy of this site would upload, no more, no less.
    const dry = JSON.parse((await deploy([dir, 's3://empty', ...endpoint(), '--dry-run', '--json'])).stdout)
    expect(keys).toEqual([...dry.uploaded].sort())
    expect(await dangling('fresh')).toEqual([])
  })
})

describe('upload order', () => {
  it('no document goes up before an object it points at (seen in a proxy access log)', async () => {
    await fs.truncate(path.join(logProxy.prefix, 'log', 's3-order.log')).catch(() => undefined)
    const r = await deploy([site, 's3://order', ...endpoint(logPort), '--json'])
    expect(r.code, r.stderr).toBe(0)
    // nginx writes the log when a request ends; its start is the end less its duration. Both are
    // in milliseconds, so a start may read up to 2 ms early: that much slack is allowed.
    const lines = (await fs.readFile(path.join(logProxy.prefix, 'log', 's3-order.log'), 'utf8')).trim().split('\n')
    const puts = new Map<string, { start: number; end: number }>()
    for (const line of lines) {
      const [msec, took, method, status, uri] = line.split(' ') as [string, string, string, string, string]
      if (method !== 'PUT' || status !== '200') continue
      const key = decodeURIComponent(uri.split('?')[0]!.replace(/^\/order\//, ''))
      puts.set(key, { start: Number(msec) - Number(took), end: Number(msec) })
    }
    const keys = await listKeys('order')
    expect([...puts.keys()].sort()).toEqual(keys)
    const refs = await references('order', keys)
    // The well-known document names every index: it goes last of all.
    refs.set('.well-known/oci-host-ref-engines', keys.filter((k) => k !== '.well-known/oci-host-ref-engines'))
    let checked = 0
    for (const [doc, targets] of refs) {
      for (const t of targets) {
        expect(puts.get(t)!.end, `${t} must be uploaded before ${doc}`).toBeLessThanOrEqual(puts.get(doc)!.start + 0.002)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(50)
  })
})

describe('failures', () => {
  it('s3rver stopped halfway through a deploy: exit 4, no dangling index meanwhile, and the next deploy completes', async () => {
    // A site with a 48 MiB layer, so the deploy is still running when the server goes.
    const w = await OciLayout.create(path.join(work, 'layouts', 'big'))
    const big = await w.putBytes(Buffer.concat([await tarLayer({ 'a.txt': 'big' }), (await import('node:crypto')).randomBytes(48 * 1024 * 1024)]), 'application/vnd.oci.image.layer.v1.tar')
    const config = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [big.digest] } }, MediaType.ociConfig)
    await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [big] }, MediaType.ociManifest), '1.0')
    const dir = path.join(work, 'outage-site')
    const built = await ocisite(['build', w.paths.root, L.app!, '--host', HOST, '--out', dir])
    expect(built.code, built.stderr).toBe(0)

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'deploy', dir, 's3://outage', ...endpoint()], { cwd: repo, env: { ...process.env, ...creds }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)))
    // Wait until the first object lands, then kill the server.
    const bucketDir = path.join(s3.dir, 'outage')
    const deadline = Date.now() + 60_000
    while (!(await fs.readdir(bucketDir, { recursive: true }).catch(() => [] as string[])).some((f) => String(f).includes('oci-cas'))) {
      if (Date.now() > deadline) throw new Error('deploy never started uploading')
      await new Promise((r) => setTimeout(r, 20))
    }
    await stopChild(s3.child, 'SIGKILL')
    await dropUnfinishedPuts(bucketDir)
    expect(await exited).toBe(4)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(/error\[NETWORK\].*s3:\/\/outage/)

    s3.child = await startS3rver(s3.dir, s3port)
    // What a consumer could have seen meanwhile: whatever is there, nothing dangles.
    const during = await listKeys('outage')
    expect(during.some((k) => k.startsWith('oci-index/') || k.startsWith('.well-known/'))).toBe(false)
    expect(await dangling('outage')).toEqual([])

    const again = await deploy([dir, 's3://outage', ...endpoint(), '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(await dangling('outage')).toEqual([])
    const dry = JSON.parse((await deploy([dir, 's3://outage', ...endpoint(), '--dry-run', '--json'])).stdout)
    expect(dry.uploaded).toEqual([])
  })

  it('a bucket that does not exist, bad credentials, or no server: one line, exit 2, 2 and 4', async () => {
    const missing = await deploy([site, 's3://no-such-bucket', ...endpoint()])
    expect(missing.code).toBe(2)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toMatch(/bucket no-such-bucket does not exist/)
    const badCreds = await deploy([site, 's3://site', ...endpoint()], { ...creds, AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG' })
    expect(badCreds.code).toBe(2)
    expect(badCreds.stderr.trim().split('\n')).toHaveLength(1)
    expect(badCreds.stderr).toMatch(/credentials were refused/)
    const closed = await freePort()
    const down = await deploy([site, 's3://site', ...endpoint(closed)])
    expect(down.code).toBe(4)
    expect(down.stderr.trim().split('\n')).toHaveLength(1)
    expect(down.stderr).toMatch(/NETWORK.*ECONNREFUSED/)
    const notUrl = await deploy([site, 'site-bucket'])
    expect(notUrl.code).toBe(2)
    expect(notUrl.stderr).toMatch(/not a bucket URL/)
  })
})

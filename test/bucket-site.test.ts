// Publishing straight into a bucket (add, rm, prune --site s3://…), against s3rver: the bucket
// equals build + deploy of the same union, one add into a 10,000-tag site costs requests in
// proportion to the change (counted by a logging nginx in front of the S3 API), --on-change
// gets exactly the changed mutable keys, and an endpoint that ignores preconditions is refused.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, standardLayouts, tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { freePort, startNginx, stopChild, waitForPort, type RunningNginx } from './helpers/nginx.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const HOST = 'live.example'
const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' }

let work: string
let L: Record<string, string>
let s3: ChildProcess
let s3port: number
let logProxy: RunningNginx
let logPort: number
let client: S3Client
let made = 0

interface Spec {
  from: string
  path: string
  tags?: string[]
}

beforeAll(async () => {
  work = await tempDir('ocisite-bucket-site-')
  L = await standardLayouts(path.join(work, 'layouts'))
  const app2 = await OciLayout.create(path.join(work, 'layouts', 'app2'))
  await app2.addToIndex(await image(app2, 'arm64', 'app two'), '2.0')
  L.app2 = app2.paths.root
  s3port = await freePort()
  const website = path.join(work, 'website.xml')
  await fs.writeFile(website, '<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>')
  s3 = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/helpers/s3rver-main.ts'), path.join(work, 's3'), String(s3port), website], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  await waitForPort(s3port, 20_000)
  client = new S3Client({ endpoint: `http://127.0.0.1:${s3port}`, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  logPort = await freePort()
  const conf = path.join(work, 'log.conf')
  await fs.writeFile(conf, `log_format ocisite_count '$request_method $status $request_uri';
server {
    listen 127.0.0.1:${logPort};
    client_max_body_size 0;
    access_log /var/log/nginx/s3.log ocisite_count;
    location / {
        proxy_pass http://127.0.0.1:${s3port};
        proxy_set_header Host $http_host;
        proxy_request_buffering off;
    }
}
`)
  logProxy = await startNginx([conf], logPort)
}, 120_000)

afterAll(async () => {
  await logProxy?.stop()
  if (s3) await stopChild(s3, 'SIGTERM')
  await fs.rm(work, { recursive: true, force: true })
})

/** A fresh, empty bucket. */
async function bucket(): Promise<string> {
  const name = `b${++made}-${process.pid}`
  await client.send(new CreateBucketCommand({ Bucket: name }))
  return name
}

const endpoint = (port = s3port) => ['--endpoint', `http://127.0.0.1:${port}`, '--path-style']
const cli = (args: string[], input?: string) => installed(args, { env: creds, ...(input !== undefined ? { input } : {}) })

async function ok(args: string[]) {
  const r = await cli(args)
  expect(r.stderr, args.join(' ')).toBe('')
  expect(r.code, args.join(' ')).toBe(0)
  return r
}

const addInto = (b: string, s: Spec, extra: string[] = []) => ok(['add', s.from, '--path', s.path, ...(s.tags ?? []).flatMap((t) => ['--tags', t]), '--site', `s3://${b}`, '--host', HOST, ...endpoint(), '--single-writer', ...extra])

/** Every object of a bucket as Debian's botocore reads it back: key → size, MD5, Content-Type, Cache-Control, redirect. */
async function readBucket(b: string, keepState = false): Promise<Record<string, unknown>> {
  const { stdout } = await run('/usr/bin/python3', [path.join(repo, 'test/helpers/s3-read.py'), `http://127.0.0.1:${s3port}`, b], { env: { ...process.env, ...creds }, maxBuffer: 256 * 1024 * 1024 })
  const all = JSON.parse(stdout) as Record<string, unknown>
  return Object.fromEntries(Object.entries(all).filter(([k]) => keepState || !k.startsWith('.ocisite/')))
}

/** build of exactly these images (with its HTML pages, unless `extra` says --no-html), then deploy into a fresh bucket. */
async function builtAndDeployed(specs: Spec[], extra: string[] = []): Promise<string> {
  const dir = await tempDir('ocisite-bucket-full-')
  await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: HOST, images: specs.map((s) => ({ from: s.from, path: s.path, ...(s.tags ? { tags: s.tags } : {}) })) }))
  await ok(['build', '--config', path.join(dir, 'ocisite.json'), '--out', path.join(dir, 'site'), ...extra])
  const b = await bucket()
  await ok(['deploy', path.join(dir, 'site'), `s3://${b}`, ...endpoint()])
  return b
}

const app = (): Spec => ({ from: L.app!, path: 'app' })
const multi = (): Spec => ({ from: L.multi!, path: 'multi' })
const nested = (): Spec => ({ from: L['org/app']!, path: 'org/app' })
const stack = (): Spec => ({ from: L.stack!, path: 'stack' })

describe('add --site s3://… equals build + deploy of the union', () => {
  const cases: Array<{ name: string; base: () => Spec[]; adds: () => Spec[]; extra?: string[] }> = [
    { name: 'one image into a site of others', base: () => [app(), multi()], adds: () => [nested()] },
    { name: 'several images in turn: an image with an SBOM, a nested path, an artifact', base: () => [multi()], adds: () => [app(), nested(), stack()] },
    { name: 'a new tag of an image the site has', base: () => [{ ...app(), tags: ['1.0'] }], adds: () => [{ ...app(), tags: ['latest'] }] },
    { name: 'a second layout into an existing image path', base: () => [app(), stack()], adds: () => [{ from: L.app2!, path: 'app' }] },
    { name: 'a site started with --no-html: no pages, as build --no-html', base: () => [app()], adds: () => [multi(), nested()], extra: ['--no-html'] },
  ]
  it.each(cases)('$name', async (c) => {
    const b = await bucket()
    for (const s of [...c.base(), ...c.adds()]) await addInto(b, s, c.extra)
    const union = [...c.base(), ...c.adds()]
    const full = await builtAndDeployed(
      union.map((s) => ({ ...s, tags: s.tags && union.filter((u) => u.from === s.from).flatMap((u) => u.tags ?? []) })),
      c.extra,
    )
    const got = await readBucket(b)
    expect(Object.keys(got).some((k) => k.endsWith('index.html') && k !== 'v2/index.html')).toBe(!c.extra)
    expect(got).toEqual(await readBucket(full))
  }, 240_000)
})

describe('rm, then prune --site s3://…, equals build + deploy without what was removed', () => {
  const cases: Array<{ name: string; names: string[]; after: () => Spec[]; freed: boolean }> = [
    { name: 'one tag of two pointing at one image (nothing to free)', names: ['app#1.0'], after: () => [{ ...app(), tags: ['latest'] }, multi(), nested()], freed: false },
    { name: 'the only tag of an image', names: ['multi#2.0'], after: () => [app(), nested()], freed: true },
    { name: 'a whole image, named with its host', names: [`${HOST}/org/app`], after: () => [app(), multi()], freed: true },
    { name: 'every tag of an image with an SBOM', names: ['app#1.0', 'app#latest'], after: () => [multi(), nested()], freed: true },
  ]
  it.each(cases)('$name', async (c) => {
    const b = await bucket()
    for (const s of [app(), multi(), nested()]) await addInto(b, s)
    const blobsBefore = Object.keys(await readBucket(b)).filter((k) => k.startsWith('oci-cas/'))
    await ok(['rm', ...c.names, '--site', `s3://${b}`, ...endpoint(), '--single-writer'])
    expect(Object.keys(await readBucket(b)).filter((k) => k.startsWith('oci-cas/'))).toEqual(blobsBefore)
    const waiting = JSON.parse((await ok(['prune', '--site', `s3://${b}`, '--grace', '24h', '--json', ...endpoint(), '--single-writer'])).stdout)
    expect(waiting.removed).toEqual([])
    expect(waiting.waiting.length > 0).toBe(c.freed)
    await ok(['prune', '--site', `s3://${b}`, '--grace', '0', ...endpoint(), '--single-writer'])
    expect(await readBucket(b)).toEqual(await readBucket(await builtAndDeployed(c.after())))
  }, 240_000)
})

describe('an endpoint that ignores preconditions', () => {
  it('is refused without --single-writer: exit 2, one line naming the reason, nothing written', async () => {
    const b = await bucket()
    const r = await cli(['add', L.app!, '--path', 'app', '--site', `s3://${b}`, '--host', HOST, ...endpoint()])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/CONFIG_INVALID.*ignores If-None-Match.*--single-writer/)
    expect(await readBucket(b, true)).toEqual({})
  }, 120_000)
})

describe('edges: refused with one line, nothing changed', () => {
  it.each([
    { name: 'rm on a bucket with no site', args: (b: string) => ['rm', 'app#1.0', '--site', `s3://${b}`], code: 2, message: /holds no ocisite site record, so there is nothing to remove; start one with ocisite add INPUT --site s3:\/\/\S+ --host HOST$/, filled: false },
    { name: '--host naming another host than the site has', args: (b: string) => ['add', L.multi!, '--path', 'multi', '--site', `s3://${b}`, '--host', 'other.example'], code: 2, message: /--host other\.example: s3:\/\/\S+ is already a site for live\.example; leave --host out/, filled: true },
    { name: '--no-html for a site with pages', args: (b: string) => ['add', L.multi!, '--path', 'multi', '--site', `s3://${b}`, '--no-html'], code: 2, message: /--no-html: s3:\/\/\S+ is already a site with HTML pages/, filled: true },
    { name: 'prune --on-change (prune changes no mutable key)', args: (b: string) => ['prune', '--site', `s3://${b}`, '--on-change', 'cat'], code: 2, message: /unknown flag --on-change/, filled: true },
  ])('$name', async (c) => {
    const b = await bucket()
    if (c.filled) await addInto(b, app())
    const before = await readBucket(b, true)
    const r = await cli([...c.args(b), ...endpoint(), '--single-writer'])
    expect(r.code, r.stderr).toBe(c.code)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr.trim()).toMatch(c.message)
    expect(await readBucket(b, true)).toEqual(before)
  }, 120_000)

  it('a probe key a killed writer left is deleted by the next probe once older than the lease; a younger one stays', async () => {
    const b = await bucket()
    await client.send(new PutObjectCommand({ Bucket: b, Key: '.ocisite/probe/left-by-a-kill', Body: 'probe\n' }))
    // The lease is long enough that the younger key stays younger than it however slowly a
    // loaded machine starts the CLI.
    await new Promise((r) => setTimeout(r, 11_000))
    await client.send(new PutObjectCommand({ Bucket: b, Key: '.ocisite/probe/another-writers', Body: 'probe\n' }))
    // s3rver ignores preconditions, so the probe then refuses it: the stale key is gone all the same.
    const r = await cli(['add', L.app!, '--path', 'app', '--site', `s3://${b}`, '--host', HOST, '--lease', '10s', ...endpoint()])
    expect(r.code).toBe(2)
    expect(Object.keys(await readBucket(b, true))).toEqual(['.ocisite/probe/another-writers'])
  }, 120_000)
})

/** Keys whose object a CDN may hold stale: everything but content-addressed ones. */
const mutableKey = (k: string) => !k.startsWith('oci-cas/') && !/\/manifests\/sha(256|512):/.test(k) && !/^v2\/.+\/blobs\//.test(k)

/** Keys added, removed, or changed (bytes or headers) between two reads of a bucket. */
function changedBetween(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort()
}

describe('--on-change', () => {
  it('receives exactly the changed mutable keys (compared with a read of the bucket before and after)', async () => {
    const b = await bucket()
    for (const s of [app(), multi()]) await addInto(b, s)
    const out = path.join(work, 'changed.txt')
    for (const step of [
      ['add', L['org/app']!, '--path', 'org/app'],
      ['rm', 'app#1.0'],
    ]) {
      const before = await readBucket(b)
      const r = await ok([...step, '--site', `s3://${b}`, ...endpoint(), '--single-writer', '--json', '--on-change', `cat > '${out}'`])
      const after = await readBucket(b)
      const expected = changedBetween(before, after).filter(mutableKey)
      expect(expected.length).toBeGreaterThan(0)
      expect((await fs.readFile(out, 'utf8')).trim().split('\n')).toEqual(expected)
      expect(JSON.parse(r.stdout).changed).toEqual(expected)
    }
  }, 240_000)
})

describe('cost proportional to the change', () => {
  it('one new image into a 10,000-tag bucket site: requests (counted by a logging proxy) <= N + documents changed + 8', async () => {
    const many = await OciLayout.create(path.join(work, 'layouts', 'many'))
    await many.addToIndex(await image(many, 'amd64', 'many tags'), 't0')
    const indexFile = path.join(many.paths.root, 'index.json')
    const index = JSON.parse(await fs.readFile(indexFile, 'utf8')) as { manifests: Array<Record<string, unknown>> }
    const entry = index.manifests[0]!
    index.manifests = Array.from({ length: 10_000 }, (_, i) => ({ ...entry, annotations: { 'org.opencontainers.image.ref.name': `t${i}` } }))
    await fs.writeFile(indexFile, JSON.stringify(index))
    const b = await bucket()
    await addInto(b, { from: many.paths.root, path: 'many' })

    const log = path.join(logProxy.prefix, 'log', 's3.log')
    await fs.truncate(log).catch(() => undefined)
    const r = await ok(['add', L.app2!, '--path', 'fresh', '--site', `s3://${b}`, ...endpoint(logPort), '--single-writer', '--json'])
    const result = JSON.parse(r.stdout) as { requests: number; blobs: { total: number; written: number }; documents: { written: number }; deleted: string[] }
    const counted = (await fs.readFile(log, 'utf8')).trim().split('\n').filter(Boolean)
    const n = 3 // the new image: manifest, config, layer
    const bound = n + result.documents.written + result.deleted.length + 8
    console.log(`one image of ${n} blobs into a 10,000-tag bucket site: ${counted.length} requests (--json says ${result.requests}; bound ${bound}; ${result.documents.written} documents written)`)
    expect(result.blobs.written).toBe(n)
    expect(counted.length).toBe(result.requests)
    expect(counted.length).toBeLessThanOrEqual(bound)
    expect(counted.filter((l) => /^GET \d+ \/[^/?]+\/?\?(.*&)?list-type=2/.test(l) && !l.includes('prefix=.ocisite%2Frecord%2F'))).toEqual([])
  }, 900_000)
})

// verify and ls read a bucket by key (s3://BUCKET[/PREFIX], deploy's connection flags), through
// the transport they use for a URL or a directory, against s3rver: the answers equal those for
// the site directory the bucket was deployed from, and a damaged bucket is reported key by key.
import { spawn, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { standardLayouts, tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { freePort, stopChild, waitForPort } from './helpers/nginx.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const HOST = 'audit.example'
const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' }

let work: string
let L: Record<string, string>
let s3: ChildProcess
let port: number
let client: S3Client
let site: string
let made = 0

const endpoint = () => ['--endpoint', `http://127.0.0.1:${port}`, '--path-style']
const cli = (args: string[]) => installed(args, { env: creds })

async function ok(args: string[]) {
  const r = await cli(args)
  expect(r.stderr, args.join(' ')).toBe('')
  expect(r.code, args.join(' ')).toBe(0)
  return r
}

async function bucket(): Promise<string> {
  const name = `audit${++made}-${process.pid}`
  await client.send(new CreateBucketCommand({ Bucket: name }))
  return name
}

beforeAll(async () => {
  work = await tempDir('ocisite-bucket-audit-')
  L = await standardLayouts(path.join(work, 'layouts'))
  port = await freePort()
  const website = path.join(work, 'website.xml')
  await fs.writeFile(website, '<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>')
  s3 = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/helpers/s3rver-main.ts'), path.join(work, 's3'), String(port), website], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  await waitForPort(port, 20_000)
  client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
  site = path.join(work, 'site')
  await fs.writeFile(path.join(work, 'ocisite.json'), JSON.stringify({ host: HOST, images: [{ from: L.app, path: 'app' }, { from: L.multi, path: 'multi' }, { from: L['org/app'], path: 'org/app' }] }))
  await ok(['build', '--config', path.join(work, 'ocisite.json'), '--out', site])
}, 120_000)

afterAll(async () => {
  if (s3) await stopChild(s3, 'SIGTERM')
  await fs.rm(work, { recursive: true, force: true })
})

/** A bucket holding the site: deployed from the directory, or published into with add. */
async function filled(how: 'deploy' | 'add', prefix = ''): Promise<string> {
  const target = `s3://${await bucket()}${prefix ? `/${prefix}` : ''}`
  if (how === 'deploy') await ok(['deploy', site, target, ...endpoint()])
  else for (const [from, p] of [[L.app!, 'app'], [L.multi!, 'multi'], [L['org/app']!, 'org/app']] as const) await ok(['add', from, '--path', p, '--site', target, '--host', HOST, ...endpoint(), '--single-writer'])
  return target
}

const json = async (args: string[]) => JSON.parse((await ok([...args, '--json'])).stdout) as Record<string, unknown>

describe('verify s3://BUCKET[/PREFIX]', () => {
  it.each([
    { how: 'deploy' as const, prefix: '' },
    { how: 'add' as const, prefix: '' },
    { how: 'add' as const, prefix: 'team/site' },
  ])('a bucket filled by $how (prefix "$prefix") checks out as its site directory does', async ({ how, prefix }) => {
    const target = await filled(how, prefix)
    const fromBucket = await json(['verify', target, '--deep', ...endpoint()])
    const fromDir = await json(['verify', site, '--deep'])
    expect(fromBucket.problems).toEqual([])
    expect(fromBucket.ok).toBe(true)
    expect(fromBucket.v2).toBe(true)
    const { requests: _a, ...bucketCounts } = fromBucket.checked as Record<string, number>
    const { requests: _b, ...dirCounts } = fromDir.checked as Record<string, number>
    expect(bucketCounts).toEqual(dirCounts)
  }, 240_000)

  it('reports a missing blob and a document cached as immutable, by key, with exit 5', async () => {
    const target = await filled('add')
    const b = target.slice('s3://'.length)
    const blob = JSON.parse(await fs.readFile(path.join(site, 'oci-index', 'multi'), 'utf8')).manifests[0].digest as string
    const [alg, hex] = blob.split(':') as [string, string]
    const blobKey = `oci-cas/${alg}/${hex.slice(0, 2)}/${hex}`
    await client.send(new DeleteObjectCommand({ Bucket: b, Key: blobKey }))
    await client.send(new CopyObjectCommand({ Bucket: b, Key: 'oci-index/app', CopySource: `${b}/oci-index/app`, MetadataDirective: 'REPLACE', ContentType: 'application/vnd.oci.image.index.v1+json; charset=utf-8', CacheControl: 'public, max-age=31536000, immutable' }))
    const r = await cli(['verify', target, '--json', ...endpoint()])
    expect(r.code).toBe(5)
    const problems = (JSON.parse(r.stdout) as { problems: Array<{ kind: string; url: string }> }).problems
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'status', url: `${target}/${blobKey}` }))
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'cache-control', url: `${target}/oci-index/app` }))
  }, 240_000)
})

describe('ls s3://BUCKET[/PREFIX]', () => {
  it('lists the images, and an image\'s tags, exactly as for the site directory', async () => {
    const target = await filled('add', 'pre')
    expect(await json(['ls', target, ...endpoint()])).toEqual(await json(['ls', site]))
    for (const image of ['app', 'org/app']) expect(await json(['ls', target, image, ...endpoint()])).toEqual(await json(['ls', site, image]))
    const missing = await cli(['ls', target, 'nothing', ...endpoint()])
    expect(missing.code).toBe(3)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
  }, 240_000)
})

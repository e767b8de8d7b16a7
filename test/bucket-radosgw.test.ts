// Many writers into one bucket, against a real S3 that honours If-None-Match: Debian's Ceph RADOS
// Gateway on 127.0.0.1 (test/helpers/radosgw.ts). Two adds at once, 20 rounds: both images land,
// no document points at a missing object, neither fails. Then 30 adds killed with kill -9 at a
// seeded random moment: the bucket stays consistent, the next add completes it, and at the end it
// equals build + deploy of everything added.
import { spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, tempDir } from './helpers/fixtures.js'
import { installed, installedBin } from './helpers/installed.js'
import { startRadosgw, type RunningRadosgw } from './helpers/radosgw.js'
import { bucketProblems, dumpBucket } from './helpers/bucket-check.js'

const HOST = 'rgw.example'
let rgw: RunningRadosgw
let work: string
let client: S3Client
let env: Record<string, string>

beforeAll(async () => {
  work = await tempDir('ocisite-rgw-test-')
  rgw = await startRadosgw()
  env = { AWS_ACCESS_KEY_ID: rgw.accessKey, AWS_SECRET_ACCESS_KEY: rgw.secretKey, AWS_REGION: 'us-east-1' }
  client = new S3Client({ endpoint: rgw.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey } })
}, 120_000)

afterAll(async () => {
  await rgw?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

async function layouts(prefix: string, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const w = await OciLayout.create(path.join(work, prefix, `${prefix}${i}`))
    await w.addToIndex(await image(w, 'amd64', `${prefix} ${i}`), '1.0')
    out.push(w.paths.root)
  }
  return out
}

async function bucket(name: string): Promise<string> {
  await client.send(new CreateBucketCommand({ Bucket: name }))
  return name
}

const site = (b: string) => ['--site', `s3://${b}`, '--endpoint', rgw.endpoint, '--path-style']
const dump = (b: string) => dumpBucket(rgw.endpoint, b, env)
const refs = (b: string) => dumpBucket(rgw.endpoint, b, env, false, true)
const indexOf = async (b: string) => Object.keys(await refs(b)).filter((k) => k.startsWith('oci-index/')).sort()

describe('radosgw: two adds at once', () => {
  it('20 rounds of two adds started together: both images land, no dangling reference, no exit 1', async () => {
    const inputs = await layouts('pair', 40)
    const b = await bucket('pairs')
    const first = await installed(['add', inputs[0]!, '--path', 'pair0', ...site(b), '--host', HOST], { env })
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    for (let round = 0; round < 20; round++) {
      const pair = round === 0 ? [inputs[1]!, inputs[2]!] : [inputs[2 * round + 1]!, inputs[(2 * round + 2) % 40]!]
      const results = await Promise.all(pair.map((p) => installed(['add', p, '--path', path.basename(p), ...site(b)], { env })))
      for (const r of results) expect(r.code, `round ${round}: ${r.stderr}`).toBe(0)
      const keys = await indexOf(b)
      for (const p of pair) expect(keys, `round ${round}`).toContain(`oci-index/${path.basename(p)}`)
      expect(bucketProblems(await refs(b)), `round ${round}`).toEqual([])
    }
  }, 1_200_000)
})

/** A small seeded PRNG (mulberry32): the same seed gives the same kill moments. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('radosgw: an add killed with kill -9', () => {
  it('30 rounds at a seeded random moment: consistent after each kill, completed by the next add, and equal to build + deploy at the end', async () => {
    const seed = Number(process.env.OCISITE_CRASH_SEED ?? Date.now() % 1_000_000)
    console.log(`crash rounds: seed ${seed} (OCISITE_CRASH_SEED=${seed} repeats them)`)
    const next = random(seed)
    const inputs = await layouts('crash', 30)
    const b = await bucket('crashes')
    const bin = await installedBin()
    const added: string[] = []
    const t0 = Date.now()
    const probe = await installed(['add', inputs[0]!, '--path', 'timing', ...site(await bucket('timing')), '--host', HOST], { env })
    expect(probe.code).toBe(0)
    const whole = Date.now() - t0
    for (let round = 0; round < 30; round++) {
      const input = inputs[round]!
      const args = ['add', input, '--path', path.basename(input), ...site(b), '--host', HOST, '--lease', '1s']
      const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: 'ignore' })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      const delay = Math.round(next() * whole)
      await new Promise((resolve) => setTimeout(resolve, delay))
      child.kill('SIGKILL')
      await exited
      expect(bucketProblems(await refs(b)), `round ${round} (seed ${seed}, killed after ${delay} ms)`).toEqual([])
      const again = await installed(args, { env })
      expect(again.code, `round ${round}: ${again.stderr}`).toBe(0)
      added.push(input)
      expect(bucketProblems(await refs(b)), `round ${round}`).toEqual([])
    }
    // build of everything added (with its pages), deployed into a fresh bucket of the same radosgw.
    const dir = await tempDir('ocisite-rgw-full-')
    await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: HOST, images: added.map((p) => ({ from: p, path: path.basename(p) })) }))
    expect((await installed(['build', '--config', path.join(dir, 'ocisite.json'), '--out', path.join(dir, 'site')], { env })).code).toBe(0)
    const full = await bucket('crash-full')
    const deployed = await installed(['deploy', path.join(dir, 'site'), `s3://${full}`, '--endpoint', rgw.endpoint, '--path-style'], { env })
    expect(deployed.stderr).toBe('')
    expect(await dump(b)).toEqual(await dump(full))
  }, 1_800_000)
})

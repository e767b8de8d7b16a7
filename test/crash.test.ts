// Crash safety and concurrency of site writes. strace kills a rebuild (that adds and drops tags
// and a whole image) at every rename and at every unlink in turn; after each kill the site must
// be consistent, and the next build must clean up and equal a fresh build. Then pairs of builds
// race into one site.
import { execFile, spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, multiPlatform, sbomFor, tempDir } from './helpers/fixtures.js'
import { siteProblems, tempFiles } from './helpers/site-check.js'
import { snapshot } from './helpers/tree.js'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
// One libuv thread does every file operation, so strace's per-thread call counter is the build's.
const env = { ...process.env, UV_THREADPOOL_SIZE: '1' }
const node = (args: string[]) => ['--import', 'tsx', 'src/bin.ts', ...args]

let work: string
let in1: string
let in2: string
let base: string
let fresh: Map<string, string>

async function build(inputs: string, out: string, extra: string[] = []): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(process.execPath, node(['build', inputs, '--host', 'crash.example', '--out', out, ...extra]), { cwd: repo, env })
    return { code: 0, stderr: r.stderr }
  } catch (err) {
    const e = err as { code?: number; stderr?: string }
    return { code: e.code ?? 1, stderr: e.stderr ?? '' }
  }
}

beforeAll(async () => {
  work = await tempDir()
  // Before: app (1.0, latest, an SBOM), multi (2.0), gone (1.0).
  in1 = path.join(work, 'in1')
  const app1 = await OciLayout.create(path.join(in1, 'app'))
  const a = await image(app1, 'amd64', 'app a')
  await app1.addToIndex(a, '1.0')
  await app1.addToIndex(a, 'latest')
  await sbomFor(app1, a)
  const multi1 = await OciLayout.create(path.join(in1, 'multi'))
  await multi1.addToIndex(await multiPlatform(multi1, 'multi one'), '2.0')
  const gone = await OciLayout.create(path.join(in1, 'gone'))
  await gone.addToIndex(await image(gone, 'amd64', 'gone soon'), '1.0')
  // After: app (1.0 kept, latest moved), multi (2.0 dropped, 3.0 added), new (1.0); gone dropped.
  in2 = path.join(work, 'in2')
  const app2 = await OciLayout.create(path.join(in2, 'app'))
  await app2.addToIndex(await image(app2, 'amd64', 'app a'), '1.0')
  await app2.addToIndex(await image(app2, 'amd64', 'app b'), 'latest')
  const multi2 = await OciLayout.create(path.join(in2, 'multi'))
  await multi2.addToIndex(await multiPlatform(multi2, 'multi two'), '3.0')
  const added = await OciLayout.create(path.join(in2, 'new'))
  await added.addToIndex(await image(added, 'amd64', 'brand new'), '1.0')

  base = path.join(work, 'base')
  expect((await build(in1, base)).code).toBe(0)
  const freshDir = path.join(work, 'fresh')
  expect((await build(in2, freshDir)).code).toBe(0)
  fresh = await snapshot(freshDir)
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

/** How many calls of `syscalls` a rebuild from the base site makes. */
async function countCalls(syscalls: string): Promise<number> {
  const site = path.join(work, `count-${syscalls.length}`)
  await run('cp', ['-a', base, site])
  const out = path.join(work, `count-${syscalls.length}.txt`)
  await run('strace', ['-f', '-c', '-o', out, '-e', `trace=${syscalls}`, process.execPath, ...node(['build', in2, '--host', 'crash.example', '--out', site])], { cwd: repo, env })
  const total = /^[\d.\s]+\s(\d+)\s+(?:\d+\s+)?total$/m.exec(await fs.readFile(out, 'utf8'))
  return Number(total?.[1] ?? 0)
}

async function killAt(syscalls: string, n: number): Promise<void> {
  const site = path.join(work, `kill-${n}`)
  await fs.rm(site, { recursive: true, force: true })
  await run('cp', ['-a', base, site])
  const result = await run('strace', ['-f', '-o', '/dev/null', '-e', `trace=${syscalls}`, '-e', `inject=${syscalls}:signal=SIGKILL:when=${n}`, process.execPath, ...node(['build', in2, '--host', 'crash.example', '--out', site])], { cwd: repo, env }).then(
    () => 'finished',
    () => 'killed',
  )
  expect(result, `kill at ${syscalls} #${n}`).toBe('killed')
  // After the kill: everything a consumer can reach resolves, and every blob verifies.
  expect(await siteProblems(site), `after a kill at ${syscalls} #${n}`).toEqual([])
  // The next build cleans up and equals a fresh build.
  const next = await build(in2, site)
  expect(next.code, next.stderr).toBe(0)
  expect(await tempFiles(site)).toEqual([])
  expect(await snapshot(site), `rebuild after a kill at ${syscalls} #${n}`).toEqual(fresh)
  await fs.rm(site, { recursive: true, force: true })
}

describe.each([
  ['renames', 'rename,renameat,renameat2'],
  ['unlinks', 'unlink,unlinkat'],
])('a rebuild killed at every one of its %s', (_, syscalls) => {
  it('leaves a consistent site, and the next build equals a fresh one', async () => {
    const calls = await countCalls(syscalls)
    expect(calls).toBeGreaterThan(5)
    console.log(`crash test: killing the rebuild at each of its ${calls} ${syscalls} calls`)
    for (let n = 1; n <= calls; n++) await killAt(syscalls, n)
  }, 900_000)
})

describe('two builds into one site at once', () => {
  it('10 rounds: both exit 0 in turn, and the site equals the later build', async () => {
    for (let round = 0; round < 10; round++) {
      const site = path.join(work, `race-${round}`)
      const started = [in1, in2].map((inputs) => {
        const child = spawn(process.execPath, node(['build', inputs, '--host', 'crash.example', '--out', site]), { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] })
        let stderr = ''
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        return new Promise<{ inputs: string; code: number | null; stderr: string; at: bigint }>((resolve) => child.on('exit', (code) => resolve({ inputs, code, stderr, at: process.hrtime.bigint() })))
      })
      const done = await Promise.all(started)
      for (const d of done) expect(d.code, d.stderr).toBe(0)
      const later = done[0]!.at > done[1]!.at ? done[0]! : done[1]!
      const expected = path.join(work, `race-${round}-expected`)
      expect((await build(later.inputs, expected)).code).toBe(0)
      expect(await snapshot(site), `round ${round}`).toEqual(await snapshot(expected))
      expect(await siteProblems(site)).toEqual([])
    }
  }, 600_000)

  it('with --no-wait, the second is refused with one line and exit 2 while the first writes', async () => {
    const site = path.join(work, 'no-wait')
    expect((await build(in1, site)).code).toBe(0)
    // Hold the lock as a running build would: a live process named in owner.json.
    const holder = spawn('sleep', ['30'])
    const lockDir = path.join(site, '.ocisite', 'lock.d')
    await fs.mkdir(lockDir)
    await fs.writeFile(path.join(lockDir, 'owner.json'), JSON.stringify({ pid: holder.pid, host: (await import('node:os')).hostname(), token: 'held' }))
    try {
      const before = await snapshot(site)
      const refused = await build(in2, site, ['--no-wait'])
      expect(refused.code).toBe(2)
      expect(refused.stderr.trim().split('\n')).toHaveLength(1)
      expect(refused.stderr).toContain('error[SITE_LOCKED]')
      expect(await snapshot(site)).toEqual(before)
    } finally {
      holder.kill()
    }
    // Once the holder is gone (killed, never released), the next build takes the lock over at once.
    await new Promise((r) => holder.once('exit', r))
    const next = await build(in2, site)
    expect(next.code, next.stderr).toBe(0)
  })
})

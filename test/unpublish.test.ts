// What a write changes in what a site publishes, said plainly (issue 23, item 6): build, add and
// rm name every tag they publish, move and unpublish, on the terminal and in --json; with
// --dry-run they say what they would do and leave the site exactly as it was, ocisite's own
// state, caches and lock included. Everything runs through ocisite as installed from its tarball.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, standardLayouts, tempDir } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { exactSnapshot } from './helpers/tree.js'

const HOST = 'example.com'
let work: string
let cwd: string
/** The standard layouts (app 1.0 and latest with an SBOM, multi 2.0, org/app v1, stack 0.1). */
let layouts: string
/** One layout, app: 1.0 as before, latest moved to a new image, and a new tag 2.0. */
let next: string
/** A layout for a new image, extra 3.0. */
let extra: string
/** The digests the first build published, by `path#tag`. */
const first = new Map<string, string>()

interface Written {
  dryRun: boolean
  images: Array<{ path: string; tags: Array<{ tag: string; digest: string }> }>
  added: Array<{ path: string; image: boolean; tags: string[] }>
  moved: Array<{ path: string; tag: string; from: string; to: string }>
  unpublished: Array<{ path: string; image: boolean; tags: string[] }>
  deleted: string[]
  pruned: number
  blobs: { total: number; written: number; skipped: number; bytesTotal: number; bytesWritten: number }
  documents: { written: number; unchanged: number }
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return installed(args, { cwd })
}

async function json(args: string[]): Promise<Written> {
  const r = await run([...args, '--json'])
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as Written
}

/** A fresh site of the standard layouts, built by the installed ocisite. */
async function freshSite(): Promise<string> {
  const site = path.join(await tempDir('ocisite-unpublish-'), 'public')
  const r = await run(['build', layouts, '--host', HOST, '--out', site])
  expect(r.code, r.stderr).toBe(0)
  return site
}

beforeAll(async () => {
  work = await tempDir('ocisite-unpublish-')
  cwd = await outsideDir()
  layouts = path.join(work, 'layouts')
  await standardLayouts(layouts)
  const app = await OciLayout.create(path.join(work, 'next', 'app'))
  await app.addToIndex(await image(app, 'amd64', 'hello from app'), '1.0')
  const v2 = await image(app, 'amd64', 'hello from app 2')
  await app.addToIndex(v2, 'latest')
  await app.addToIndex(v2, '2.0')
  next = app.paths.root
  const x = await OciLayout.create(path.join(work, 'extra'))
  await x.addToIndex(await image(x, 'amd64', 'extra'), '3.0')
  extra = x.paths.root
  const built = await json(['build', layouts, '--host', HOST, '--out', path.join(work, 'first')])
  for (const i of built.images) for (const t of i.tags) first.set(`${i.path}#${t.tag}`, t.digest)
})

describe('a write names what it unpublishes', () => {
  it('build with fewer inputs: every image and tag it unpublishes, moves and publishes (terminal)', async () => {
    const site = await freshSite()
    const r = await run(['build', next, '--host', HOST, '--out', site])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    const newLatest = (await json(['build', next, '--host', HOST, '--out', site])).images[0]!.tags.find((t) => t.tag === 'latest')!.digest
    expect(lines.slice(0, -2)).toEqual([
      `${HOST}/app: 1.0, 2.0, latest`,
      `published ${HOST}/app#2.0`,
      `moved ${HOST}/app#latest: ${first.get('app#latest')} → ${newLatest}`,
      `unpublished ${HOST}/multi (all tags: 2.0)`,
      `unpublished ${HOST}/org/app (all tags: v1)`,
      `unpublished ${HOST}/stack (all tags: 0.1)`,
    ])
    expect(lines.at(-2)).toMatch(/stale files removed$/)
    expect(lines.at(-1)).toBe(`site: ${site}`)
  })

  it('build --json: added, moved, unpublished and the files deleted', async () => {
    const site = await freshSite()
    const r = await json(['build', next, '--host', HOST, '--out', site])
    expect(r.dryRun).toBe(false)
    expect(r.added).toEqual([{ path: 'app', image: false, tags: ['2.0'] }])
    expect(r.moved).toEqual([{ path: 'app', tag: 'latest', from: first.get('app#latest'), to: r.images[0]!.tags.find((t) => t.tag === 'latest')!.digest }])
    expect(r.unpublished).toEqual([
      { path: 'multi', image: true, tags: ['2.0'] },
      { path: 'org/app', image: true, tags: ['v1'] },
      { path: 'stack', image: true, tags: ['0.1'] },
    ])
    expect(r.deleted).toEqual(expect.arrayContaining(['oci-index/multi', 'oci-index/org/app', 'oci-index/stack', 'v2/multi/_tags.json', `oci-cas/sha256/${first.get('multi#2.0')!.slice(7, 9)}/${first.get('multi#2.0')!.slice(7)}`]))
    expect(r.pruned).toBe(r.deleted.length)
    for (const rel of r.deleted) await expect(fs.lstat(path.join(site, rel))).rejects.toThrow(/ENOENT/)
    // The same build again changes nothing, and says so.
    const again = await json(['build', next, '--host', HOST, '--out', site])
    expect([again.added, again.moved, again.unpublished, again.deleted]).toEqual([[], [], [], []])
  })

  it.each([
    ['a tag', 'app#1.0', `unpublished ${HOST}/app#1.0`, { path: 'app', image: false, tags: ['1.0'] }],
    ['a whole image', `${HOST}/app`, `unpublished ${HOST}/app (all tags: 1.0, latest)`, { path: 'app', image: true, tags: ['1.0', 'latest'] }],
  ])('rm %s: names it (terminal and --json)', async (_what, name, line, change) => {
    const site = await freshSite()
    const r = await run(['rm', name, '--site', site])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe(line)
    const other = await freshSite()
    expect((await json(['rm', name, '--site', other])).unpublished).toEqual([change])
  })
})

/** What a write reports that a dry run must predict. */
const prediction = (w: Written) => ({
  images: w.images,
  added: w.added,
  moved: w.moved,
  unpublished: w.unpublished,
  deleted: w.deleted,
  pruned: w.pruned,
  documents: w.documents,
  blobs: { total: w.blobs.total, written: w.blobs.written, skipped: w.blobs.skipped, bytesTotal: w.blobs.bytesTotal, bytesWritten: w.blobs.bytesWritten },
})

describe('--dry-run changes nothing, and says what the write will do', () => {
  it.each([
    ['build with fewer inputs', (site: string) => ['build', next, '--host', HOST, '--out', site], { unpublished: ['multi', 'org/app', 'stack'], moved: ['app#latest'] }],
    ['build of the same inputs', (site: string) => ['build', layouts, '--host', HOST, '--out', site], { unpublished: [], moved: [] }],
    ['add moving a tag', (site: string) => ['add', next, '--path', 'app', '--force', '--site', site], { unpublished: [], moved: ['app#latest'] }],
    ['add of a new image', (site: string) => ['add', extra, '--path', 'extra', '--site', site], { unpublished: [], moved: [] }],
    ['rm of a tag', (site: string) => ['rm', 'app#latest', '--site', site], { unpublished: ['app'], moved: [] }],
    ['rm of images', (site: string) => ['rm', 'multi', `${HOST}/stack`, '--site', site], { unpublished: ['multi', 'stack'], moved: [] }],
  ])('%s', async (_name, args, expected) => {
    const site = await freshSite()
    const before = await exactSnapshot(site)
    const dry = await json([...args(site), '--dry-run'])
    const text = await run([...args(site), '--dry-run'])
    // Every byte, inode and file time as it was: state files, verify cache, memo, no lock left.
    expect(await exactSnapshot(site)).toEqual(before)
    expect(dry.dryRun).toBe(true)
    expect(dry.unpublished.map((u) => u.path)).toEqual(expected.unpublished)
    expect(dry.moved.map((m) => `${m.path}#${m.tag}`)).toEqual(expected.moved)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/\ndry run: .*; nothing was changed\n/)
    for (const rel of dry.deleted) expect(text.stdout).toContain(`would delete ${rel}\n`)
    for (const u of dry.unpublished) expect(text.stdout).toContain(`would unpublish ${HOST}/${u.path}`)
    // The write itself then does exactly what the dry run said.
    const real = await json(args(site))
    expect(real.dryRun).toBe(false)
    expect(prediction(real)).toEqual(prediction(dry))
  })

  it('build --dry-run into a directory that does not exist creates nothing', async () => {
    const out = path.join(await tempDir('ocisite-unpublish-'), 'new-site')
    const r = await run(['build', layouts, '--host', HOST, '--out', out, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`${HOST}/multi: 2.0\n`)
    expect(r.stdout).toMatch(/dry run: 18 blobs .*: 18 to write, 0 already present; .* 0 stale files to delete; nothing was changed\n/)
    await expect(fs.lstat(out)).rejects.toThrow(/ENOENT/)
  })

  it('does not wait for, take or touch the lock another ocisite holds (and warns)', async () => {
    const site = await freshSite()
    // A writer's lock as ocisite leaves it while it writes: the directory and its owner.
    const lockDir = path.join(site, '.ocisite', 'lock.d')
    await fs.mkdir(lockDir)
    await fs.writeFile(path.join(lockDir, 'owner.json'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), token: 'held-by-the-test' }))
    const before = await exactSnapshot(site)
    const r = await run(['rm', 'app#1.0', '--site', site, '--dry-run', '--no-wait'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`ocisite: warning: ${site}: another ocisite is writing this site (lock ${lockDir}); this dry run did not wait for it`)
    expect(r.stdout).toContain(`would unpublish ${HOST}/app#1.0\n`)
    expect(await exactSnapshot(site)).toEqual(before)
  })

  it('refuses what the write would refuse, and still changes nothing', async () => {
    const site = await freshSite()
    const before = await exactSnapshot(site)
    const r = await run(['rm', 'app#9.9', '--site', site, '--dry-run'])
    expect(r.code).toBe(3)
    expect(r.stderr).toBe(`ocisite: error[NOT_FOUND]: ${site}: app has no tag 9.9 (tags: 1.0, latest)\n`)
    const a = await run(['add', next, '--path', 'app', '--site', site, '--dry-run'])
    expect(a.code).toBe(2)
    expect(a.stderr).toMatch(/TAG_CONFLICT.*pass --force to move the tag/)
    expect(await exactSnapshot(site)).toEqual(before)
  })
})

// Publishing into a live site: add, rm, prune and verify. Each update must leave the site equal
// to a full build of what it now publishes; concurrent and killed updates must never lose an
// image or leave a dangling reference; verify must catch what real hosts get wrong.
import { execFile, spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifySite } from '../src/site/audit/verify.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { build } from '../src/site/build.js'
import { add, rm } from '../src/site/publish.js'
import { prune } from '../src/site/prune.js'
import { ocisite } from './helpers/cli.js'
import { image, multiPlatform, sbomFor, standardLayouts, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx } from './helpers/nginx.js'
import { siteProblems, tempFiles } from './helpers/site-check.js'
import { snapshot } from './helpers/tree.js'
import { seeded } from './helpers/seeded.js'

const HOST = 'live.example'
const repo = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

interface Spec {
  from: string
  path: string
  tags?: string[]
}

let work: string
let L: Record<string, string>

/** A full build of exactly these images, in process, into a fresh directory. */
async function fullBuild(specs: Spec[]): Promise<string> {
  const dir = await tempDir('ocisite-full-')
  await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: HOST, images: specs.map((s) => ({ from: s.from, path: s.path, ...(s.tags ? { tags: s.tags } : {}) })) }))
  await build({ config: path.join(dir, 'ocisite.json'), out: path.join(dir, 'site') })
  return path.join(dir, 'site')
}

/** What a site serves: every file outside ocisite's private `.ocisite/`. */
async function served(dir: string): Promise<Map<string, string>> {
  const snap = await snapshot(dir)
  for (const k of [...snap.keys()]) if (k.startsWith('.ocisite')) snap.delete(k)
  return snap
}

/** Everything in the site, ocisite's own record of it included (the verify cache aside). */
const everything = (dir: string) => snapshot(dir)

async function siteOf(specs: Spec[]): Promise<string> {
  const full = await fullBuild(specs)
  const dir = await tempDir('ocisite-live-')
  await fs.cp(full, path.join(dir, 'site'), { recursive: true })
  return path.join(dir, 'site')
}

const addArgs = (s: Spec, site: string, extra: string[] = []) => ['add', s.from, '--path', s.path, ...(s.tags ?? []).flatMap((t) => ['--tags', t]), '--site', site, ...extra]

beforeAll(async () => {
  work = await tempDir()
  L = await standardLayouts(path.join(work, 'layouts'))
  // app2: a second layout for the image path app, with a new tag.
  const app2 = await OciLayout.create(path.join(work, 'layouts', 'app2'))
  await app2.addToIndex(await image(app2, 'arm64', 'app two'), '2.0')
  L.app2 = app2.paths.root
  // moved: app#1.0 again, as another image.
  const moved = await OciLayout.create(path.join(work, 'layouts', 'moved'))
  const m = await image(moved, 'amd64', 'app 1.0 rebuilt')
  await moved.addToIndex(m, '1.0')
  await sbomFor(moved, m)
  L.moved = moved.paths.root
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

const app: () => Spec = () => ({ from: L.app!, path: 'app' })
const multi: () => Spec = () => ({ from: L.multi!, path: 'multi' })
const nested: () => Spec = () => ({ from: L['org/app']!, path: 'org/app' })
const stack: () => Spec = () => ({ from: L.stack!, path: 'stack' })

describe('add equals a full build of the union', () => {
  const cases: Array<{ name: string; base: () => Spec[]; adds: () => Spec[] }> = [
    { name: 'one image into a site of others', base: () => [app(), multi()], adds: () => [nested()] },
    { name: 'several images in turn: an image with an SBOM, a nested path, an artifact', base: () => [multi()], adds: () => [app(), nested(), stack()] },
    { name: 'a new tag of an image the site has', base: () => [{ ...app(), tags: ['1.0'] }], adds: () => [{ ...app(), tags: ['latest'] }] },
    { name: 'a second layout into an existing image path', base: () => [app(), stack()], adds: () => [{ from: L.app2!, path: 'app' }] },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const site = await siteOf(c.base())
      for (const s of c.adds()) {
        const r = await ocisite(addArgs(s, site))
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
      }
      // Two specs for one path with different tag filters are one image with both tags.
      const union = [...c.base(), ...c.adds()]
      const full = await fullBuild(union.map((s) => ({ ...s, tags: s.tags && union.filter((u) => u.from === s.from).flatMap((u) => u.tags ?? []) })))
      expect(await served(site)).toEqual(await served(full))
      expect(await fs.readFile(path.join(site, '.ocisite/site.json'), 'utf8')).toBe(await fs.readFile(path.join(full, '.ocisite/site.json'), 'utf8'))
      expect(await siteProblems(site)).toEqual([])
    })
  }

  it('a moved tag is refused without --force (exit 2, nothing changes), and moved with it', async () => {
    const site = await siteOf([app(), multi()])
    const before = await everything(site)
    const refused = await ocisite(addArgs({ from: L.moved!, path: 'app' }, site))
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/TAG_CONFLICT.*app:1\.0 is published as sha256:[0-9a-f]{64}.*--force/)
    expect(await everything(site)).toEqual(before)

    const forced = await ocisite(addArgs({ from: L.moved!, path: 'app' }, site, ['--force', '--json']))
    expect(forced.code).toBe(0)
    const full = await fullBuild([{ ...app(), tags: ['latest'] }, { from: L.moved!, path: 'app' }, multi()])
    expect(await served(site)).toEqual(await served(full))
  })

  it('add into a directory that is not a site, or with no tags to add, fails with one line', async () => {
    const empty = await tempDir()
    const r = await ocisite(addArgs(app(), empty))
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/NOT_A_SITE.*ocisite build/)
    const site = await siteOf([app()])
    const before = await everything(site)
    const none = await ocisite(addArgs({ ...multi(), tags: ['no-such-*'] }, site))
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/NOTHING_TO_PUBLISH.*no tags matching no-such-\*/)
    expect(await everything(site)).toEqual(before)
  })
})

describe('rm, then prune, equals a full build without what was removed', () => {
  const cases: Array<{ name: string; names: string[]; after: () => Spec[]; freed: boolean }> = [
    { name: 'one tag of two pointing at one image (nothing to free)', names: ['app#1.0'], after: () => [{ ...app(), tags: ['latest'] }, multi(), nested()], freed: false },
    { name: 'the only tag of an image', names: ['multi#2.0'], after: () => [app(), nested()], freed: true },
    { name: 'a whole image, named with its host', names: [`${HOST}/org/app`], after: () => [app(), multi()], freed: true },
    { name: 'every tag of an image with an SBOM', names: ['app#1.0', 'app#latest'], after: () => [multi(), nested()], freed: true },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const site = await siteOf([app(), multi(), nested()])
      const casBefore = [...(await everything(site)).keys()].filter((k) => k.startsWith('oci-cas/') && !k.endsWith('/'))
      const r = await ocisite(['rm', ...c.names, '--site', site])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      // Blobs stay until prune, and a grace period spares them.
      const casAfterRm = [...(await everything(site)).keys()].filter((k) => k.startsWith('oci-cas/') && !k.endsWith('/'))
      expect(casAfterRm).toEqual(casBefore)
      const waiting = await ocisite(['prune', '--site', site, '--grace', '24h', '--json'])
      expect(waiting.code).toBe(0)
      const w = JSON.parse(waiting.stdout)
      expect(w.removed).toEqual([])
      expect(w.waiting.length > 0).toBe(c.freed)
      const dry = JSON.parse((await ocisite(['prune', '--site', site, '--grace', '0', '--dry-run', '--json'])).stdout)
      expect(dry.removed.map((b: { digest: string }) => b.digest).sort()).toEqual(w.waiting.map((b: { digest: string }) => b.digest).sort())
      expect([...(await everything(site)).keys()].filter((k) => k.startsWith('oci-cas/') && !k.endsWith('/'))).toEqual(casBefore)

      const pruned = await ocisite(['prune', '--site', site, '--grace', '0'])
      expect(pruned.code).toBe(0)
      expect(await served(site)).toEqual(await served(await fullBuild(c.after())))
      expect(await siteProblems(site)).toEqual([])
    })
  }

  it('rm of a tag or image the site does not have exits 3 and changes nothing', async () => {
    const site = await siteOf([app()])
    const before = await everything(site)
    for (const name of ['app#9.9', 'nope', 'app#bad tag']) {
      const r = await ocisite(['rm', name, '--site', site])
      expect(r.code, name).toBe(name.includes(' ') ? 2 : 3)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(await everything(site)).toEqual(before)
  })
})

/** Small distinct images for the concurrency and crash rounds. */
async function layouts(prefix: string, n: number, blobs = 1): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const w = await OciLayout.create(path.join(work, prefix, `${prefix}${i}`))
    const desc = blobs === 1 ? await image(w, 'amd64', `${prefix} ${i}`) : await multiPlatform(w, `${prefix} ${i}`)
    await w.addToIndex(desc, '1.0')
    out.push(w.paths.root)
  }
  return out
}

const node = (args: string[]) => ['--import', 'tsx', 'src/bin.ts', ...args]

describe('two adds at once', () => {
  it('20 rounds of two adds of different images started together: both land, and the site stays consistent', async () => {
    const inputs = await layouts('pair', 40)
    const site = await siteOf([multi()])
    for (let round = 0; round < 20; round++) {
      const pair = [inputs[2 * round]!, inputs[2 * round + 1]!]
      const results = await Promise.all(pair.map((p) => run(process.execPath, node(['add', p, '--site', site]), { cwd: repo }).then(() => 0, (e: { code?: number; stderr?: string }) => `${e.code}: ${e.stderr}`)))
      expect(results, `round ${round}`).toEqual([0, 0])
      const published = JSON.parse(await fs.readFile(path.join(site, '.ocisite/site.json'), 'utf8')) as { images: Array<{ path: string }> }
      for (const p of pair) expect(published.images.map((i) => i.path)).toContain(path.basename(p))
      for (const p of pair) await fs.access(path.join(site, 'oci-index', path.basename(p)))
      expect(await siteProblems(site), `round ${round}`).toEqual([])
      const v = await verifySite(site, { deep: true })
      expect(v.problems, `round ${round}`).toEqual([])
    }
    const all = [multi(), ...inputs.map((p) => ({ from: p, path: path.basename(p) }))]
    expect(await served(site)).toEqual(await served(await fullBuild(all)))
    // Every add writes the pages too (issue 26), and the machine is shared: a generous bound.
  }, 600_000)

  it('two writers taking and freeing the lock as fast as they can: a release never removes the next holder\'s lock', async () => {
    // A release once renamed its lock away and then let proper-lockfile rmdir the path: a lock
    // just taken there by the next writer, still empty while it named itself, went with it
    // (seen in CI as "ENOENT ... utime lock.d" from the second of two adds).
    const site = await siteOf([app()])
    const churn = () => run(process.execPath, ['--import', 'tsx', 'test/helpers/lock-churn.ts', site, '4000'], { cwd: repo }).then((r) => JSON.parse(r.stdout) as { taken: number; errors: string[] })
    const both = await Promise.all([churn(), churn()])
    for (const r of both) {
      expect(r.errors).toEqual([])
      expect(r.taken).toBeGreaterThan(0)
    }
    expect((await fs.readdir(path.join(site, '.ocisite'))).filter((f) => f.startsWith('lock'))).toEqual([])
  })
})

describe('a lock left without its owner', () => {
  it('(a run killed between taking the lock and naming itself) is respected while fresh, and taken over once older than 5 s', async () => {
    const site = await siteOf([app()])
    const lockDir = path.join(site, '.ocisite', 'lock.d')
    await fs.mkdir(lockDir)
    const fresh = await ocisite(['add', L.multi!, '--path', 'multi', '--site', site, '--no-wait'])
    expect(fresh.code).toBe(2)
    expect(fresh.stderr).toMatch(/SITE_LOCKED/)
    const old = new Date(Date.now() - 10_000)
    await fs.utimes(lockDir, old, old)
    const taken = await ocisite(['add', L.multi!, '--path', 'multi', '--site', site, '--no-wait'])
    expect(taken.stderr).toBe('')
    expect(taken.code).toBe(0)
    expect((await fs.readdir(path.join(site, '.ocisite'))).filter((f) => f.startsWith('lock'))).toEqual([])
  })
})

describe('an add killed with kill -9', () => {
  it('30 rounds at a random moment: the site is consistent (at most a tag missing), and the next add completes it', async () => {
    const inputs = await layouts('crash', 30, 2)
    const site = await siteOf([app()])
    const published: Spec[] = [app()]
    // How long an add takes here, start to end, so kills land anywhere in it.
    const t0 = Date.now()
    await run(process.execPath, node(['--version']), { cwd: repo })
    const startup = Date.now() - t0
    const probe = await siteOf([app()])
    const t1 = Date.now()
    await run(process.execPath, node(['add', inputs[0]!, '--site', probe]), { cwd: repo })
    const whole = Date.now() - t1
    let midWrite = 0
    const random = seeded('kill -9 rounds')
    for (let round = 0; round < 30; round++) {
      const input = inputs[round]!
      const before = await everything(site)
      const child = spawn(process.execPath, node(['add', input, '--site', site]), { cwd: repo, stdio: 'ignore' })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      const delay = startup * 0.8 + random.next() * (whole - startup * 0.8)
      await new Promise((resolve) => setTimeout(resolve, delay))
      child.kill('SIGKILL')
      await exited
      const after = await everything(site)
      if ([...after].some(([k, v]) => before.get(k) !== v) && (await fs.access(path.join(site, 'oci-index', path.basename(input))).then(() => false, () => true))) midWrite++

      const v = await verifySite(site, { deep: true })
      expect(v.problems.filter((p) => p.kind !== 'tag-missing'), `round ${round} (killed after ${Math.round(delay)} ms, seed ${random.seed})`).toEqual([])
      // The independent checker: every reference resolves and every blob hashes to its name.
      expect(await siteProblems(site), `round ${round}`).toEqual([])

      const again = await ocisite(['add', input, '--site', site])
      // Killed in the instant between taking the lock and naming itself its owner, a run leaves a
      // lock with no owner: the next one says it waits, then takes it over.
      expect(again.stderr.replace(/^ocisite: waiting for another ocisite writing .*\n/, ''), `round ${round}`).toBe('')
      expect(again.code).toBe(0)
      published.push({ from: input, path: path.basename(input) })
      expect(await tempFiles(site)).toEqual([])
      expect(await served(site), `round ${round}`).toEqual(await served(await fullBuild(published)))
      expect((await verifySite(site, { deep: true })).problems).toEqual([])
    }
    // Say how many kills landed inside the write itself (the rest fell before or after it).
    console.log(`kill -9 rounds that interrupted a write in progress: ${midWrite} of 30 (add takes ${whole} ms, startup ${startup} ms)`)
    // Every add writes the pages too (issue 26), and the machine is shared: a generous bound.
  }, 600_000)
})

describe('prune never removes what anything references', () => {
  it('200 random add / rm / prune steps', async () => {
    const pool: Spec[] = []
    for (let i = 0; i < 6; i++) {
      const w = await OciLayout.create(path.join(work, 'prop', `p${i}`))
      const a = await image(w, 'amd64', `prop ${i} a`)
      const b = i % 2 ? await multiPlatform(w, `prop ${i} b`) : await image(w, 'arm64', `prop ${i % 3} shared`)
      await w.addToIndex(a, '1.0')
      await w.addToIndex(b, '2.0')
      if (i % 3 === 0) await sbomFor(w, a)
      pool.push({ from: w.paths.root, path: `p${i % 4}` })
    }
    const site = await siteOf([pool[0]!])
    let seed = 12345
    const rand = (n: number) => {
      // A 32-bit xorshift: an LCG's low bits cycle, which would make every prune pick the same grace.
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const counts = { add: 0, rm: 0, prune: 0, removed: 0, spared: 0 }
    for (let step = 0; step < 200; step++) {
      const op = rand(3)
      if (op === 0) {
        const s = pool[rand(pool.length)]!
        await add({ site, inputs: [s.from], path: s.path, tags: rand(2) ? ['1.0'] : [], force: true })
        counts.add++
      } else if (op === 1) {
        const published = JSON.parse(await fs.readFile(path.join(site, '.ocisite/site.json'), 'utf8')) as { images: Array<{ path: string; tags: Array<{ tag: string }> }> }
        const tags = published.images.flatMap((i) => [i.path, ...i.tags.map((t) => `${i.path}#${t.tag}`)])
        if (tags.length === 0) continue
        await rm({ site, names: [tags[rand(tags.length)]!] })
        counts.rm++
      } else {
        const grace = rand(4) === 0 ? 3_600_000 : 0
        const r = await prune({ site, grace })
        if (grace) counts.spared += r.waiting.length
        counts.prune++
        counts.removed += r.removed.length
        expect(await siteProblems(site), `step ${step}`).toEqual([])
        const v = await verifySite(site, { deep: true })
        expect(v.problems, `step ${step}`).toEqual([])
      }
    }
    expect(counts.add).toBeGreaterThan(30)
    expect(counts.rm).toBeGreaterThan(30)
    expect(counts.prune).toBeGreaterThan(30)
    // Prune did real work, and the grace period held some back.
    expect(counts.removed).toBeGreaterThan(10)
    expect(counts.spared).toBeGreaterThan(0)
  })
})

describe('verify against real nginx', () => {
  let site: string
  let conf: string
  beforeAll(async () => {
    const dir = await tempDir()
    site = path.join(dir, 'site')
    conf = path.join(dir, 'site.conf')
    await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: HOST, images: [app(), multi(), nested(), stack()] }))
    const r = await ocisite(['build', '--config', path.join(dir, 'ocisite.json'), '--out', site, '--nginx', conf, '--listen', '127.0.0.1:8080'])
    expect(r.code).toBe(0)
  })

  /** Serve a copy of the site (changed by `damage`) with a config (changed by `edit`), and verify it. */
  async function verifyServed(options: { edit?: (conf: string) => string; damage?: (site: string) => Promise<void>; conf?: (root: string, port: number) => string; args?: string[] }) {
    const dir = await tempDir()
    const copy = path.join(dir, 'site')
    await fs.cp(site, copy, { recursive: true })
    await options.damage?.(copy)
    const port = await freePort()
    const text = options.conf ? options.conf(copy, port) : (options.edit ?? ((c: string) => c))((await fs.readFile(conf, 'utf8')).replaceAll(site, copy).replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${port};`))
    await fs.writeFile(path.join(dir, 'site.conf'), text)
    const nginx = await startNginx([path.join(dir, 'site.conf')], port)
    try {
      const r = await ocisite(['verify', `http://127.0.0.1:${port}`, ...(options.args ?? [])])
      const json = await ocisite(['verify', `http://127.0.0.1:${port}`, '--json', ...(options.args ?? [])])
      return { ...r, result: JSON.parse(json.stdout) as { ok: boolean; problems: Array<{ kind: string; url: string; message: string }> } }
    } finally {
      await nginx.stop()
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
  const layerOf = async (dir: string) => {
    const index = JSON.parse(await fs.readFile(path.join(dir, 'oci-index/org/app'), 'utf8'))
    const digest = index.manifests[0].digest.split(':')[1]
    const manifest = JSON.parse(await fs.readFile(path.join(dir, 'oci-cas/sha256', digest.slice(0, 2), digest), 'utf8'))
    const layer = manifest.layers[0].digest.split(':')[1] as string
    return { digest: `sha256:${layer}`, file: path.join(dir, 'oci-cas/sha256', layer.slice(0, 2), layer) }
  }

  it('passes on a good site, over HEAD and with --deep', async () => {
    for (const args of [[], ['--deep']]) {
      const r = await verifyServed({ args })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^ok: http:\/\/127\.0\.0\.1:\d+: 4 images, 5 tags/)
      expect(r.result.ok).toBe(true)
    }
  })

  const failures: Array<{ name: string; kind: string; message: RegExp; edit?: (c: string) => string; damage?: (s: string) => Promise<void>; args?: string[]; bare?: boolean }> = [
    {
      name: 'an index served as application/octet-stream',
      kind: 'content-type',
      message: /index of app: served as "application\/octet-stream.*expected "application\/vnd\.oci\.image\.index\.v1\+json; charset=utf-8"/,
      edit: (c) => c.replace('default_type "application/vnd.oci.image.index.v1+json";\n        charset utf-8;', 'default_type "application/octet-stream";\n        charset utf-8;'),
    },
    {
      name: 'an index without its charset',
      kind: 'charset',
      message: /index of app: served as "application\/vnd\.oci\.image\.index\.v1\+json" without "; charset=utf-8"/,
      edit: (c) => c.replace('default_type "application/vnd.oci.image.index.v1+json";\n        charset utf-8;\n        charset_types *;', 'default_type "application/vnd.oci.image.index.v1+json";'),
    },
    {
      name: 'a deleted blob',
      kind: 'status',
      message: /blob sha256:[0-9a-f]{64}: HTTP 404, expected 200/,
      damage: async (s) => fs.rm((await layerOf(s)).file),
    },
    {
      name: 'a blob with one byte changed (--deep)',
      kind: 'digest',
      message: /sha256:[0-9a-f]{64}: the bytes served hash to sha256:/,
      args: ['--deep'],
      damage: async (s) => {
        const { file } = await layerOf(s)
        const bytes = await fs.readFile(file)
        bytes[100] = bytes[100]! ^ 0xff
        await fs.writeFile(file, bytes)
      },
    },
    {
      name: 'a /v2/ tag answering with another manifest',
      kind: 'v2-tag',
      message: /\/v2\/ app:1\.0 answers with sha256:[0-9a-f]{64}, but its index says sha256:/,
      damage: async (s) => {
        const tag = path.join(s, 'v2/app/_tags/1.0.oci-manifest')
        await fs.rm(tag)
        await fs.copyFile(path.join(s, 'v2/org/app/_tags/v1.oci-manifest'), tag)
      },
    },
    {
      name: 'nginx without the generated config (types by extension)',
      kind: 'content-type',
      message: /ref-engines document: served as "application\/octet-stream".*expected "application\/vnd\.oci\.ref-engines\.v1\+json; charset=utf-8"/,
      bare: true,
    },
  ]
  for (const f of failures) {
    it(`fails on ${f.name}`, async () => {
      const r = await verifyServed({ ...f, ...(f.bare ? { conf: (root: string, port: number) => `server {\n    listen 127.0.0.1:${port};\n    root ${root};\n}\n` } : {}) })
      expect(r.code).toBe(5)
      expect(r.result.ok).toBe(false)
      const hit = r.result.problems.find((p) => p.kind === f.kind && f.message.test(p.message))
      expect(hit, JSON.stringify(r.result.problems, null, 1)).toBeDefined()
      expect(r.stdout).toContain(hit!.message)
      if (f.name.includes('--deep')) {
        // The same damage passes a HEAD-only check: sizes match; only hashing finds it.
        const shallow = await verifyServed({ damage: f.damage })
        expect(shallow.code).toBe(0)
      }
    })
  }
})

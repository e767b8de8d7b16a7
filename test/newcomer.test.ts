// What a new user trips over: installing from a tarball, pulling a platform the image lacks,
// progress on a terminal, hints for common mistakes, output into a closed pipe, an empty layout
// among good ones, and dependencies that are all really used.
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { ocisite } from './helpers/cli.js'
import { image, multiPlatform, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { snapshot } from './helpers/tree.js'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
let work: string
let port: number
let nginx: RunningNginx
const BIG = 256 * 1024 * 1024

beforeAll(async () => {
  work = await tempDir()
  const single = await OciLayout.create(path.join(work, 'layouts', 'single'))
  await single.addToIndex(await image(single, 'amd64', 'amd64 only'), '1.0')
  const multi = await OciLayout.create(path.join(work, 'layouts', 'multi'))
  await multi.addToIndex(await multiPlatform(multi, 'amd64 and arm64'), '2.0')
  // A layer big enough for a progress line to move.
  const big = await OciLayout.create(path.join(work, 'layouts', 'big'))
  // Written by head and hashed by sha256sum, so the test never holds the layer in memory.
  const raw = path.join(work, 'big-layer')
  execFileSync('sh', ['-c', `head -c ${BIG} /dev/urandom > '${raw}'`])
  const hex = execFileSync('sha256sum', [raw], { encoding: 'utf8' }).slice(0, 64)
  await fs.mkdir(path.join(big.paths.root, 'blobs', 'sha256'), { recursive: true })
  await fs.rename(raw, path.join(big.paths.root, 'blobs', 'sha256', hex))
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex}`, size: BIG }
  const config = await big.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, 'application/vnd.oci.image.config.v1+json')
  await big.addToIndex(await big.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json'), '1.0')
  port = await freePort()
  const r = await ocisite(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', path.join(work, 'site'), '--nginx', path.join(work, 'site.conf'), '--listen', `127.0.0.1:${port}`])
  expect(r.code, r.stderr).toBe(0)
  nginx = await startNginx([path.join(work, 'site.conf')], port)
})
afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

const site = () => ['--protocol', 'http', '--port', String(port)]

describe('installing', () => {
  it('npm pack, then npm i -g --prefix: the installed ocisite builds the example like npm run example', async () => {
    const dir = await tempDir()
    const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: repo, maxBuffer: 16 * 1024 * 1024 })
    const tarball = path.join(dir, stdout.trim().split('\n').pop()!)
    await run('npm', ['install', '--global', '--prefix', path.join(dir, 'prefix'), '--no-audit', '--no-fund', tarball], { maxBuffer: 16 * 1024 * 1024 })
    const bin = path.join(dir, 'prefix', 'bin', 'ocisite')
    // Run from another directory, on a copy of the example (its ocisite.json names relative paths).
    await fs.cp(path.join(repo, 'example-site'), path.join(dir, 'example'), { recursive: true, filter: (src) => !/example-site\/(public|nginx\.conf)/.test(src) })
    await run(bin, ['build', '--config', path.join(dir, 'example', 'ocisite.json'), '--root', path.join(repo, 'example-site', 'public')], { cwd: dir })
    // The reference: the same build through the repository's own script (npm run example).
    const ref = await tempDir()
    await fs.cp(path.join(repo, 'example-site'), path.join(ref, 'example'), { recursive: true, filter: (src) => !/example-site\/(public|nginx\.conf)/.test(src) })
    await run(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'build', '--config', path.join(ref, 'example', 'ocisite.json'), '--root', path.join(repo, 'example-site', 'public')], { cwd: repo })
    expect(await snapshot(path.join(dir, 'example', 'public'))).toEqual(await snapshot(path.join(ref, 'example', 'public')))
    expect(await fs.readFile(path.join(dir, 'example', 'nginx.conf'), 'utf8')).toBe(await fs.readFile(path.join(ref, 'example', 'nginx.conf'), 'utf8'))
    // The installed package carries its templates and schema.
    const installed = path.join(dir, 'prefix', 'lib', 'node_modules', 'ocisite')
    for (const f of ['templates/nginx-site.conf.hbs', 'ocisite.schema.json', 'dist/bin.js']) await expect(fs.stat(path.join(installed, f))).resolves.toBeTruthy()
    await fs.rm(dir, { recursive: true, force: true })
    await fs.rm(ref, { recursive: true, force: true })
  }, 300_000)
})

describe('pulling a platform the image does not have', () => {
  it.each([
    ['a single-platform amd64 image', 'localhost/single#1.0', 'linux/amd64'],
    ['an index without arm64', 'localhost/multi#2.0', 'linux/amd64, linux/arm64/v8'],
  ])('%s: exit 3 naming the platforms it has, nothing written', async (_, name, available) => {
    const dest = path.join(work, `dest-${name.replace(/\W+/g, '-')}`)
    const want = name.includes('multi') ? 'linux/s390x' : 'linux/arm64'
    const r = await ocisite(['pull', name, dest, '--platform', want, ...site()])
    expect(r.code, r.stderr).toBe(3)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain(`no manifest for platform ${want}`)
    expect(r.stderr).toContain(`platforms: ${available}`)
    await expect(fs.stat(dest)).rejects.toThrow()
  })
})

/** Progress updates in terminal output: the byte counts each redraw showed, in order. */
function progressBytes(output: string): number[] {
  const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }
  return [...output.matchAll(/blobs \d+\/\d+ {2}([\d.]+) (B|KiB|MiB|GiB) \//g)].map((m) => Number(m[1]) * units[m[2]!]!)
}

describe('progress on a terminal', () => {
  const underPty = (args: string[]) => {
    const cmd = [process.execPath, '--import', 'tsx', 'src/bin.ts', ...args].map((a) => `'${a}'`).join(' ')
    return spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: repo, encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } })
  }

  it.each(['build', 'pull'])('%s shows bytes as they stream, with rate and ETA', (command) => {
    const out = path.join(work, `pty-${command}`)
    const args = command === 'build' ? ['build', path.join(work, 'layouts', 'big'), '--host', 'localhost', '--out', out] : ['pull', 'localhost/big#1.0', out, ...site(), '--concurrency', '1']
    const r = underPty(args)
    expect(r.status, r.stdout).toBe(0)
    const seen = progressBytes(r.stdout)
    const growing = seen.filter((b, i) => i === 0 || b > seen[i - 1]!)
    const before = growing.filter((b) => b > 0 && b < BIG)
    expect(before.length, `progress updates: ${seen.join(', ')}`).toBeGreaterThanOrEqual(3)
    expect(r.stdout).toMatch(/\/s {2}ETA /)
    if (command === 'pull') {
      // The counter ends where the summary's count is.
      const counters = [...r.stdout.matchAll(/blobs (\d+)\/(\d+) /g)]
      const last = counters[counters.length - 1]!
      const summary = /(\d+) blobs: /.exec(r.stdout)!
      expect([last[1], last[2]]).toEqual([summary[1], summary[1]])
    }
  })

  it('piped output has no progress lines or control characters', async () => {
    const r = await ocisite(['build', path.join(work, 'layouts', 'big'), '--host', 'localhost', '--out', path.join(work, 'piped')])
    expect(r.code).toBe(0)
    expect(r.stderr + r.stdout).not.toMatch(/[\r\x1b]/)
    expect(r.stderr).not.toContain('blobs ')
    const p = await ocisite(['pull', 'localhost/big#1.0', path.join(work, 'piped-pull'), ...site()])
    expect(p.code, p.stderr).toBe(0)
    expect(p.stderr + p.stdout).not.toMatch(/[\r\x1b]/)
    expect(p.stderr).toBe('')
  })

  it('counts in the summary agree with the progress counter, and one blob is "1 blob"', async () => {
    const r = await ocisite(['pull', 'localhost/single#1.0', path.join(work, 'singular'), ...site()])
    expect(r.stdout).toMatch(/^3 blobs: 3 fetched/m)
    const one = await OciLayout.create(path.join(work, 'one-blob'))
    await one.addToIndex(await one.putBytes(Buffer.from('just one'), 'application/vnd.example.thing'), 'x')
    const b = await ocisite(['build', path.join(work, 'one-blob'), '--host', 'localhost', '--out', path.join(work, 'one-blob-site')])
    expect(b.stdout).toMatch(/^1 blob \(/m)
  })
})

describe('hints where users go wrong', () => {
  it.each([
    ['a docker-style name', ['resolve', 'localhost/single:1.0', '--protocol', 'http', '--port', 'PORT'], 3, ['did you mean localhost/single#1.0']],
    ['a name with a scheme', ['resolve', 'http://localhost/app#1.2'], 2, ['names have no scheme', 'localhost/app#1.2', '--protocol http']],
    ['a --host with a port', ['build', 'LAYOUTS', '--host', 'example.com:8443', '--out', 'OUT'], 2, ['has a port', '--base-url', '--listen']],
  ])('%s', async (_, args, code, words) => {
    const argv = args.map((a) => (a === 'PORT' ? String(port) : a === 'LAYOUTS' ? path.join(work, 'layouts', 'single') : a === 'OUT' ? path.join(work, 'hint-out') : a))
    const r = await ocisite(argv)
    expect(r.code, r.stderr).toBe(code)
    for (const w of words) expect(r.stderr).toContain(w)
  })

  it('build --help shows no "(default: true)" beside --no-v2', async () => {
    const r = await ocisite(['build', '--help'])
    const line = r.stdout.split('\n').find((l) => l.includes('--no-v2'))!
    expect(line).toBeTruthy()
    expect(line).not.toContain('default')
  })

  it('--headers-file without --no-v2 warns that /v2/ will not work on those hosts', async () => {
    const r = await ocisite(['build', path.join(work, 'layouts', 'single'), '--host', 'localhost', '--out', path.join(work, 'headers'), '--headers-file'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/warning: --headers-file: .*not \/v2\/.*--no-v2/)
    const quiet = await ocisite(['build', path.join(work, 'layouts', 'single'), '--host', 'localhost', '--out', path.join(work, 'headers-no-v2'), '--headers-file', '--no-v2'])
    expect(quiet.stderr).toBe('')
  })
})

describe('output into a closed pipe', () => {
  it('build --json | head -c 10 exits 0 with no stack trace', async () => {
    // Enough tags that the JSON summary is larger than a pipe's buffer.
    const w = await OciLayout.create(path.join(work, 'many', 'app'))
    const desc = await image(w, 'amd64', 'many tags')
    await w.writeIndex(Array.from({ length: 3000 }, (_, i) => ({ ...desc, annotations: { 'org.opencontainers.image.ref.name': `tag-${i}` } })))
    const cmd = `${process.execPath} --import tsx src/bin.ts build '${path.join(work, 'many')}' --host localhost --out '${path.join(work, 'many-site')}' --json | head -c 10; echo " status=\${PIPESTATUS[0]}"`
    const r = spawnSync('bash', ['-c', cmd], { cwd: repo, encoding: 'utf8' })
    expect(r.stdout).toMatch(/^\{\n {2}"out":.* status=0\n$/s)
    expect(r.stderr).toBe('')
  })
})

describe('an empty layout among good ones', () => {
  it('a searched directory with a `umoci init`-only layout builds the good one, warning about the empty one', async () => {
    const dir = path.join(work, 'search')
    execFileSync('umoci', ['init', '--layout', path.join(dir, 'empty')])
    await fs.cp(path.join(work, 'layouts', 'single'), path.join(dir, 'good'), { recursive: true })
    const r = await ocisite(['build', dir, '--host', 'localhost', '--out', path.join(work, 'search-site'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).images.map((i: { path: string }) => i.path)).toEqual(['good'])
    expect(r.stderr).toMatch(/^ocisite: warning: .*empty: no tags to publish/m)
    // Named directly, the same layout is still an error.
    const direct = await ocisite(['build', path.join(dir, 'empty'), '--host', 'localhost', '--out', path.join(work, 'empty-site')])
    expect(direct.code).toBe(2)
  })
})

describe('dependencies', () => {
  it('every dependency is imported by the code, and every dev dependency has a job', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }
    const files = async (dir: string): Promise<string[]> =>
      (await fs.readdir(path.join(repo, dir), { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name))
    // Static imports, and dynamic ones (modules loaded only when a command needs them).
    const imports = async (dirs: string[]) => {
      const found = new Set<string>()
      for (const dir of dirs) for (const f of await files(dir)) for (const m of (await fs.readFile(f, 'utf8')).matchAll(/(?:from |import\()'((?:@[^/']+\/)?[^/'.][^/']*)/g)) found.add(m[1]!)
      return found
    }
    const runtime = await imports(['src'])
    for (const dep of Object.keys(pkg.dependencies)) expect(runtime, `${dep} is declared but src never imports it`).toContain(dep)
    // Dev dependencies: imported by tests, scripts or the vitest config, or run by an npm script.
    const devImports = await imports(['test', 'scripts'])
    for (const m of (await fs.readFile(path.join(repo, 'vitest.config.ts'), 'utf8')).matchAll(/from '((?:@[^/']+\/)?[^/'.][^/']*)/g)) devImports.add(m[1]!)
    const npmScripts = Object.values((pkg as unknown as { scripts: Record<string, string> }).scripts).join('\n')
    for (const dep of Object.keys(pkg.devDependencies)) {
      const typed = dep.startsWith('@types/') ? dep.slice('@types/'.length) : undefined
      const used = typed ? typed === 'node' || runtime.has(typed) || devImports.has(typed) : devImports.has(dep) || npmScripts.includes(dep === 'typescript' ? 'tsc ' : `${dep} `)
      expect(used, `dev dependency ${dep} has no use`).toBe(true)
    }
  })
})

// The command line as a new user meets it, through ocisite installed from the npm pack tarball:
// every text flag keeps what was typed (issue 23 item 1), typos get a suggestion (item 8), flags
// beat ocisite.json (issue 24), and --version is the package's.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REF_NAME } from '../src/oci/descriptor.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { serveInstalled, type InstalledServer } from './helpers/installed-server.js'

let work: string
let server: InstalledServer
const digests: Record<string, string> = {}

beforeAll(async () => {
  work = await outsideDir()
  const w = await OciLayout.create(path.join(work, 'layouts', 'app'))
  for (const tag of ['1.1', '1.10', '2.0']) digests[tag] = (await w.addToIndex(await image(w, 'amd64', `app ${tag}`), tag)).digest
  const r = await installed(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', path.join(work, 'site')])
  expect(r.code, r.stderr).toBe(0)
  server = await serveInstalled(path.join(work, 'site'), ['--quiet'])
})
afterAll(async () => {
  await server?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

const readJson = async (file: string) => JSON.parse(await fs.readFile(file, 'utf8'))
/** The manifest tagged `tag` in a layout. */
async function manifestTagged(layout: string, tag: string) {
  const index = await readJson(path.join(layout, 'index.json'))
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.[REF_NAME] === tag)
  return readJson(path.join(layout, 'blobs', 'sha256', entry.digest.slice(7)))
}

interface Row {
  args: string[]
  /** Exit code wanted (default 0). */
  code?: number
  /** Text stderr must hold. */
  stderr?: string
  /** Runs before, in the run's own directory. */
  prepare?: (cwd: string) => Promise<void>
  /** What the run left, checked in its directory. */
  check?: (cwd: string, stdout: string) => Promise<void>
}

const copyApp = (cwd: string) => fs.cp(path.join(work, 'layouts', 'app'), path.join(cwd, 'L'), { recursive: true })
const note = (cwd: string) => fs.writeFile(path.join(cwd, 'note.txt'), 'a note')
const site = ['--protocol', 'http', '--port', 'PORT']

const rows: Record<string, Row> = {
  'pack --subject 1.10 attaches to tag 1.10, not 1.1': {
    args: ['pack', 'note.txt', '--out', 'L', '--tag', 'n', '--subject', '1.10'],
    prepare: async (cwd) => (await copyApp(cwd), note(cwd)),
    check: async (cwd) => expect((await manifestTagged(path.join(cwd, 'L'), 'n')).subject.digest).toBe(digests['1.10']),
  },
  'pack --subject 2.0 attaches to tag 2.0': {
    args: ['pack', 'note.txt', '--out', 'L', '--tag', 'n', '--subject', '2.0'],
    prepare: async (cwd) => (await copyApp(cwd), note(cwd)),
    check: async (cwd) => expect((await manifestTagged(path.join(cwd, 'L'), 'n')).subject.digest).toBe(digests['2.0']),
  },
  'pack --subject localhost/app#1.10 (a site) resolves tag 1.10': {
    args: ['pack', 'note.txt', '--out', 'L', '--tag', 'n', '--subject', 'localhost/app#1.10', ...site],
    prepare: note,
    check: async (cwd) => expect((await manifestTagged(path.join(cwd, 'L'), 'n')).subject.digest).toBe(digests['1.10']),
  },
  'pack --tag 1.10, --annotation k=1.10, --artifact-type, --out 1.10': {
    args: ['pack', 'note.txt', '--out', '1.10', '--tag', '1.10', '--annotation', 'k=1.10', '--annotation=j=2.0', '--artifact-type', 'application/x.1.10'],
    prepare: note,
    check: async (cwd) => {
      const m = await manifestTagged(path.join(cwd, '1.10'), '1.10')
      expect(m.annotations).toMatchObject({ k: '1.10', j: '2.0' })
      expect(m.artifactType).toBe('application/x.1.10')
    },
  },
  'pack --preset 1.10': { args: ['pack', 'x', '--out', 'L', '--tag', 't', '--preset', '1.10'], code: 2, stderr: '--preset 1.10: use one of' },
  'build --tags 1.10 and --out 1.10': {
    args: ['build', 'LAYOUTS', '--host', 'localhost', '--out', '1.10', '--tags', '1.10', '--json'],
    check: async (cwd, stdout) => {
      const r = JSON.parse(stdout)
      expect(r.out).toBe(path.join(cwd, '1.10'))
      expect(r.images[0].tags.map((t: { tag: string }) => t.tag)).toEqual(['1.10'])
    },
  },
  'build --nginx, --root, --acme-root, --tls-cert, --tls-key': {
    args: ['build', 'LAYOUTS', '--host', 'localhost', '--out', 'out', '--nginx', '1.10', '--root', '2.0', '--acme-root', '3.0', '--tls-cert', '4.0', '--tls-key', '5.0'],
    check: async (cwd) => {
      const conf = await fs.readFile(path.join(cwd, '1.10'), 'utf8')
      for (const p of ['2.0', '3.0', '4.0', '5.0']) expect(conf).toContain(path.join(cwd, p))
    },
  },
  'build --host 1.10': { args: ['build', 'LAYOUTS', '--host', '1.10'], code: 2, stderr: 'host "1.10"' },
  'build --base-url 1.10': { args: ['build', 'LAYOUTS', '--host', 'localhost', '--base-url', '1.10'], code: 2, stderr: '--base-url "1.10"' },
  'build --config 1.10': { args: ['build', '--config', '1.10'], code: 2, stderr: `1.10: config file not found` },
  'build --listen 1.10': { args: ['build', 'LAYOUTS', '--host', 'localhost', '--nginx', 'n.conf', '--listen', '1.10'], code: 2, stderr: '--listen "1.10"' },
  'build --http-listen 1.10': { args: ['build', 'LAYOUTS', '--host', 'localhost', '--nginx', 'n.conf', '--tls-cert', 'c', '--tls-key', 'k', '--http-listen', '1.10'], code: 2, stderr: '--http-listen "1.10"' },
  'build --concurrency 1.10': { args: ['build', 'LAYOUTS', '--host', 'localhost', '--concurrency', '1.10'], code: 2, stderr: '--concurrency 1.10 must be' },
  'build --max-archive-size 1.10x': { args: ['build', 'LAYOUTS', '--host', 'localhost', '--max-archive-size', '1.10x'], code: 2, stderr: '--max-archive-size 1.10x:' },
  'add --path 1.10 --tags 2.0': {
    args: ['add', 'L', '--site', 'S', '--path', '1.10', '--tags', '2.0', '--json'],
    prepare: async (cwd) => {
      await copyApp(cwd)
      expect((await installed(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', 'S'], { cwd })).code).toBe(0)
    },
    check: async (_, stdout) => expect(JSON.parse(stdout).images.find((i: { path: string }) => i.path === '1.10').tags.map((t: { tag: string }) => t.tag)).toEqual(['2.0']),
  },
  'verify --name 1.10 checks image 1.10': {
    args: ['verify', 'S', '--name', '1.10', '--json'],
    prepare: async (cwd) => {
      await fs.cp(path.join(work, 'layouts', 'app'), path.join(cwd, 'in', '1.10'), { recursive: true })
      expect((await installed(['build', 'in', '--host', 'localhost', '--out', 'S'], { cwd })).code).toBe(0)
    },
    check: async (_, stdout) => expect(JSON.parse(stdout)).toMatchObject({ ok: true, checked: { images: 1, tags: 3 } }),
  },
  'add --site 1.10': { args: ['add', 'LAYOUTS', '--site', '1.10'], code: 2, stderr: '1.10' },
  'rm --site 1.10': { args: ['rm', 'app#1.1', '--site', '1.10'], code: 2, stderr: '1.10' },
  'prune --site 1.10': { args: ['prune', '--site', '1.10'], code: 2, stderr: '1.10' },
  'prune --grace 1.10x': { args: ['prune', '--site', 'S', '--grace', '1.10x'], code: 2, stderr: '--grace 1.10x:' },
  'verify --concurrency 1.10': { args: ['verify', 'S', '--concurrency', '1.10'], code: 2, stderr: '--concurrency 1.10 must be' },
  'deploy --concurrency 1.10': { args: ['deploy', 'S', 's3://b', '--concurrency', '1.10'], code: 2, stderr: '--concurrency 1.10 must be' },
  'resolve --platform 1.10': { args: ['resolve', 'localhost/app#1.1', '--platform', '1.10', ...site], code: 2, stderr: '--platform "1.10"' },
  'resolve --port 1.10': { args: ['resolve', 'localhost/app#1.1', '--port', '1.10'], code: 2, stderr: '--port 1.10 is not a port number' },
  'resolve --protocol 1.10': { args: ['resolve', 'localhost/app#1.1', '--protocol', '1.10'], code: 2, stderr: '--protocol 1.10: use https or http' },
  'resolve --resolve 1.10': { args: ['resolve', 'localhost/app#1.1', '--resolve', '1.10'], code: 2, stderr: '--resolve 1.10: use HOST:PORT:ADDRESS' },
  'resolve --resolve localhost:1.10:127.0.0.1': { args: ['resolve', 'localhost/app#1.1', '--resolve', 'localhost:1.10:127.0.0.1'], code: 2, stderr: '--resolve localhost:1.10:127.0.0.1:' },
  'resolve --cacert 1.10': { args: ['resolve', 'localhost/app#1.1', '--cacert', '1.10'], code: 2, stderr: '--cacert 1.10: no such file' },
  'verify --resolve 1.10': { args: ['verify', 'https://localhost', '--resolve', '1.10'], code: 2, stderr: '--resolve 1.10: use HOST:PORT:ADDRESS' },
  'verify --cacert 1.10': { args: ['verify', 'https://localhost', '--cacert', '1.10'], code: 2, stderr: '--cacert 1.10: no such file' },
  'resolve --speed-limit 1.10x': { args: ['resolve', 'localhost/app#1.1', '--speed-limit', '1.10x'], code: 2, stderr: '--speed-limit 1.10x must be' },
  'pull --lock 1.10': { args: ['pull', 'localhost/app#1.1', 'D', '--lock', '1.10'], code: 2, stderr: '--lock 1.10: no such file' },
  'pull --concurrency 1.10': { args: ['pull', 'localhost/app#1.1', 'D', '--concurrency', '1.10'], code: 2, stderr: '--concurrency 1.10 must be' },
  'get --lock 1.10': { args: ['get', 'localhost/app#1.1', 'D', '--lock', '1.10'], code: 2, stderr: '--lock 1.10: no such file' },
  'lock --out 1.10 pins tag 1.10': {
    args: ['lock', 'localhost/app#1.10', '--out', '1.10', ...site],
    check: async (cwd) => expect((await readJson(path.join(cwd, '1.10'))).pins).toMatchObject([{ name: 'localhost/app#1.10', digest: digests['1.10'] }]),
  },
  'serve --port 1.10': { args: ['serve', 'S', '--port', '1.10'], code: 2, stderr: '--port 1.10 is not a port number' },
  'serve --host 1.10': { args: ['serve', 'SITE', '--port', '0', '--host', '1.10'], code: 2, stderr: 'cannot listen on 1.10:' },
}

describe('every text flag keeps exactly what was typed (installed CLI)', () => {
  it.each(Object.keys(rows))('%s', async (label) => {
    const row = rows[label]!
    const cwd = await outsideDir()
    await row.prepare?.(cwd)
    const args = row.args.map((a) => (a === 'PORT' ? String(server.port) : a === 'LAYOUTS' ? path.join(work, 'layouts') : a === 'SITE' ? path.join(work, 'site') : a))
    const r = await installed(args, { cwd })
    expect(r.code, r.stderr).toBe(row.code ?? 0)
    if (row.stderr) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toContain(row.stderr)
    }
    await row.check?.(cwd, r.stdout)
  })
})

describe('typos get a suggestion: one line, exit 2 (installed CLI)', () => {
  it.each([
    [['build', 'LAYOUTS', '--hots', 'example.com'], 'unknown flag --hots; did you mean --host?'],
    [['build', 'LAYOUTS', '--tag', '1.0', '--host', 'example.com'], 'unknown flag --tag; did you mean --tags?'],
    [['biuld', 'LAYOUTS'], 'unknown command "biuld"; did you mean build?'],
    [['rm', 'webapp:2.0', '--site', 'SITE'], 'rm webapp:2.0: tags follow "#" in host-based names: did you mean webapp#2.0?'],
    [['rm', 'localhost/webapp:2.0', '--site', 'SITE'], 'did you mean localhost/webapp#2.0?'],
    [['build', 'LAYOUTS', '--host', 'https://example.com'], 'host "https://example.com" has a scheme; drop it: --host example.com'],
  ])('%j', async (args, message) => {
    const r = await installed(args.map((a) => (a === 'LAYOUTS' ? path.join(work, 'layouts') : a === 'SITE' ? path.join(work, 'site') : a)))
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(message)])
  })
})

describe('precedence and version (installed CLI)', () => {
  it('--out public wins over "out" in ocisite.json; --tags over its "tags"', async () => {
    const cwd = await outsideDir()
    await fs.writeFile(path.join(cwd, 'ocisite.json'), JSON.stringify({ host: 'localhost', out: 'from-file', tags: ['1.1'], inputs: [path.join(work, 'layouts')] }))
    const r = await installed(['build', '--out', 'public', '--tags', '2.0', '--json'], { cwd })
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).images[0].tags.map((t: { tag: string }) => t.tag)).toEqual(['2.0'])
    await expect(fs.stat(path.join(cwd, 'public', '.well-known'))).resolves.toBeTruthy()
    await expect(fs.stat(path.join(cwd, 'from-file'))).rejects.toThrow()
  })

  it('--version prints the version in package.json', async () => {
    const pkg = await readJson(new URL('../package.json', import.meta.url).pathname)
    const r = await installed(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^ocisite/${pkg.version.replace(/\./g, '\\.')} `))
  })
})

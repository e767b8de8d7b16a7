// What the installed CLI prints (issue 23): resolve on a terminal names each root's tag (item 9),
// a bad ocisite.json is reported whole with lines and columns and the schema is reachable from
// anywhere (item 10), and serve logs its requests (item 12).
import { spawnSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolve } from '../src/client/resolve.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, multiPlatform } from './helpers/fixtures.js'
import { installed, installedBin, outsideDir } from './helpers/installed.js'
import { serveInstalled, type InstalledServer } from './helpers/installed-server.js'

let work: string
let server: InstalledServer
const digests: Record<string, string> = {}
const repoSchema = new URL('../ocisite.schema.json', import.meta.url).pathname

beforeAll(async () => {
  work = await outsideDir()
  const app = await OciLayout.create(path.join(work, 'layouts', 'app'))
  for (const tag of ['1.0', '2.0']) digests[tag] = (await app.addToIndex(await image(app, 'amd64', `app ${tag}`), tag)).digest
  const multi = await OciLayout.create(path.join(work, 'layouts', 'multi'))
  digests.multi = (await multi.addToIndex(await multiPlatform(multi, 'multi'), '3.0')).digest
  const r = await installed(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', path.join(work, 'site')])
  expect(r.code, r.stderr).toBe(0)
  server = await serveInstalled(path.join(work, 'site'), ['--quiet'])
})
afterAll(async () => {
  await server?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

/** Run the installed ocisite under a pseudo-terminal (`script`), as a person at a terminal would. */
async function onTerminal(args: string[]): Promise<{ status: number | null; out: string }> {
  const cmd = [await installedBin(), ...args].map((a) => `'${a}'`).join(' ')
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: await outsideDir(), encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } })
  return { status: r.status, out: r.stdout.replace(/\r/g, '') }
}

describe('resolve on a terminal: NAME#TAG → digest (platform), one line per root', () => {
  const http = () => ['--protocol', 'http', '--port', String(server.port)]

  it('a tagless name: every root, each with its own tag', async () => {
    const r = await onTerminal(['resolve', 'localhost/app', 'localhost/multi', ...http()])
    expect(r.status, r.out).toBe(0)
    expect(r.out.trim().split('\n').sort()).toEqual(
      [
        `localhost/app#1.0 → ${digests['1.0']} (linux/amd64)`,
        `localhost/app#2.0 → ${digests['2.0']} (linux/amd64)`,
        `localhost/multi#3.0 → ${digests.multi} (multi-platform index)`,
      ].sort(),
    )
  })

  it('--platform keeps the tag of the index entry it followed', async () => {
    const r = await onTerminal(['resolve', 'localhost/multi#3.0', '--platform', 'linux/arm64/v8', ...http()])
    expect(r.status, r.out).toBe(0)
    expect(r.out.trim()).toMatch(/^localhost\/multi#3\.0 → sha256:[0-9a-f]{64} \(linux\/arm64\/v8\)$/)
    expect(r.out).not.toContain(digests.multi)
  })

  it('piped, the JSON is what the library resolve() returns', async () => {
    const names = ['localhost/app', 'localhost/multi#3.0']
    const r = await installed(['resolve', ...names, ...http()])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(await resolve(names, { protocols: ['http'], port: server.port }))))
  })
})

describe('serve logs one line per request on stdout; --quiet silences it', () => {
  /** What a server logged after its "serving" line: once `count` lines are there (or after 10 s), then stopped. */
  async function logged(s: InstalledServer, count: number): Promise<string[]> {
    const lines = () => s.stdout().trim().split('\n').slice(1)
    for (let i = 0; i < 400 && lines().length < count; i++) await new Promise((r) => setTimeout(r, 25))
    await s.stop()
    return lines()
  }

  it('method, path, status and the body bytes sent', async () => {
    const server = await serveInstalled(path.join(work, 'site'))
    const wellKnown = await (await fetch(`${server.url}/.well-known/oci-host-ref-engines`)).arrayBuffer()
    const head = await fetch(`${server.url}/oci-index/app`, { method: 'HEAD' })
    const missing = await (await fetch(`${server.url}/oci-index/nope?x=1`)).arrayBuffer()
    const blob = await (await fetch(`${server.url}/oci-cas/sha256/${digests['1.0']!.slice(7, 9)}/${digests['1.0']!.slice(7)}`)).arrayBuffer()
    expect(head.status).toBe(200)
    expect(await logged(server, 4)).toEqual([
      `GET /.well-known/oci-host-ref-engines 200 ${wellKnown.byteLength}`,
      'HEAD /oci-index/app 200 0',
      `GET /oci-index/nope?x=1 404 ${missing.byteLength}`,
      `GET /oci-cas/sha256/${digests['1.0']!.slice(7, 9)}/${digests['1.0']!.slice(7)} 200 ${blob.byteLength}`,
    ])
    expect(blob.byteLength).toBeGreaterThan(0)
  })

  it('--quiet: only the line that says where it serves', async () => {
    const quiet = await serveInstalled(path.join(work, 'site'), ['--quiet'])
    for (const p of ['/.well-known/oci-host-ref-engines', '/oci-index/app', '/nope']) expect((await fetch(quiet.url + p)).status).toBeGreaterThan(0)
    expect(await logged(quiet, 0)).toEqual([])
    expect(quiet.stdout()).toMatch(/^serving .*site at http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C to stop\)\n$/)
  })
})

describe('ocisite.json: every problem at once, each with its line and column', () => {
  async function build(config: string): Promise<{ code: number; lines: string[]; file: string }> {
    const cwd = await outsideDir()
    const file = path.join(cwd, 'ocisite.json')
    await fs.writeFile(file, config)
    const r = await installed(['build', '--out', 'out'], { cwd })
    await expect(fs.stat(path.join(cwd, 'out'))).rejects.toThrow()
    return { code: r.code, lines: r.stderr.trimEnd().split('\n'), file }
  }

  it('schema errors: a count, then one line per problem in file order', async () => {
    const { code, lines, file } = await build(['{', '  "host": 7,', '  "outt": "x",', '  "images": [{ "path": "a" }],', '  "nginx": { "listen": [true], "rooot": "/srv" }', '}'].join('\n'))
    expect(code).toBe(2)
    expect(lines).toEqual([
      `ocisite: error[CONFIG_INVALID]: ${file}: 5 problems:`,
      `  ${file}:2:11: "host" must be string`,
      `  ${file}:3:3: unknown key "outt" (did you mean "out"?)`,
      `  ${file}:4:14: "images[0]" must have required property 'from'`,
      `  ${file}:5:25: "nginx.listen[0]" must be string or number`,
      `  ${file}:5:32: unknown key "nginx.rooot" (did you mean "nginx.root"?)`,
    ])
  })

  it.each([
    ['a missing value', '{\n  "host": "a",\n  "out": \n}', '4:1: invalid JSON: value expected'],
    ['a trailing comma', '{\n  "host": "a",\n}', '3:1: invalid JSON: property name expected'],
    ['a comment', '{\n  // the host\n  "host": "a"\n}', '2:3: invalid JSON: a comment (JSON has none)'],
  ])('a syntax error (%s): one line with line and column', async (_, config, where) => {
    const { code, lines, file } = await build(config)
    expect(code).toBe(2)
    expect(lines).toEqual([`ocisite: error[JSON_INVALID]: ${file}:${where}`])
  })
})

describe('ocisite schema', () => {
  it('prints the schema; --path names the installed file, which a config can point "$schema" at', async () => {
    const printed = await installed(['schema'])
    expect(printed.code).toBe(0)
    expect(printed.stdout).toBe(await fs.readFile(repoSchema, 'utf8'))
    const located = await installed(['schema', '--path'])
    expect(located.code).toBe(0)
    const file = located.stdout.trim()
    expect(path.isAbsolute(file)).toBe(true)
    expect(file).toContain(path.join('lib', 'node_modules', 'ocisite', 'ocisite.schema.json'))
    expect(await fs.readFile(file, 'utf8')).toBe(printed.stdout)
  })

  it('`ocisite schema > ocisite.schema.json` with "$schema": "./ocisite.schema.json" builds', async () => {
    const cwd = await outsideDir()
    await fs.writeFile(path.join(cwd, 'ocisite.schema.json'), (await installed(['schema'])).stdout)
    await fs.writeFile(path.join(cwd, 'ocisite.json'), JSON.stringify({ $schema: './ocisite.schema.json', host: 'localhost', inputs: [path.join(work, 'layouts', 'app')] }))
    const r = await installed(['build'], { cwd })
    expect(r.code, r.stderr).toBe(0)
    await expect(fs.stat(path.join(cwd, 'public', '.well-known', 'oci-host-ref-engines'))).resolves.toBeTruthy()
  })
})

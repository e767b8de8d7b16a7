import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ocisite } from './helpers/cli.js'
import { standardLayouts, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'

const run = promisify(execFile)
let work: string
let layouts: Record<string, string>
let nginx: RunningNginx
let port: number
let tags: Record<string, Record<string, string>>

async function blobsOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const f of await fs.readdir(path.join(dir, 'blobs', 'sha256'))) out.set(f, await fs.readFile(path.join(dir, 'blobs', 'sha256', f)))
  return out
}

/** Every pulled blob is byte-identical to the source layout's blob of the same digest. */
async function expectSameBytes(pulled: string, source: string): Promise<number> {
  const got = await blobsOf(pulled)
  const src = await blobsOf(source)
  for (const [hex, bytes] of got) {
    expect(src.has(hex), `sha256:${hex} is not in ${source}`).toBe(true)
    expect(bytes.equals(src.get(hex)!), `sha256:${hex} differs`).toBe(true)
  }
  return got.size
}

beforeAll(async () => {
  work = await tempDir()
  await fs.chmod(work, 0o755)
  layouts = await standardLayouts(path.join(work, 'layouts'))
  port = await freePort()
  // Two sites on one nginx: "localhost", and "b.localhost" for the ancestor walk. Any other
  // Host gets 404 from a default server, as an unrelated web server would answer.
  const confs: string[] = []
  for (const host of ['localhost', 'b.localhost']) {
    const conf = path.join(work, `${host}.conf`)
    const built = await ocisite(['build', path.join(work, 'layouts'), '--host', host, '--out', path.join(work, host), '--nginx', conf, '--listen', `127.0.0.1:${port}`, '--json'])
    expect(built.code, built.stderr).toBe(0)
    tags = Object.fromEntries(JSON.parse(built.stdout).images.map((i: any) => [i.path, Object.fromEntries(i.tags.map((t: any) => [t.tag, t.digest]))]))
    confs.push(conf)
  }
  const fallback = path.join(work, 'default.conf')
  await fs.writeFile(fallback, `server {\n    listen 127.0.0.1:${port} default_server;\n    return 404;\n}\n`)
  nginx = await startNginx([fallback, ...confs], port)
})

afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

const http = () => ['--protocol', 'http', '--port', String(port)]

describe('ocisite resolve against nginx', () => {
  it('returns the published descriptor, its index URI and CAS engines', async () => {
    const r = await ocisite(['resolve', ...http(), 'localhost/app#1.0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    const [root] = out['localhost/app#1.0']
    expect(root.descriptor.digest).toBe(tags.app!['1.0'])
    expect(root.descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
    expect(root.uri).toBe(`http://localhost:${port}/oci-index/app`)
    expect(root.casEngines).toEqual([{ protocol: 'oci-cas-template-v1', uri: `http://localhost:${port}/oci-cas/{algorithm}/{encoded:2}/{encoded}` }])
  })

  it('returns every entry for an empty fragment, and resolves nested paths', async () => {
    const all = JSON.parse((await ocisite(['resolve', ...http(), 'localhost/app', '--json'])).stdout)
    expect(all['localhost/app'].map((r: any) => r.descriptor.annotations['org.opencontainers.image.ref.name'])).toEqual(['1.0', 'latest'])
    const nested = JSON.parse((await ocisite(['resolve', ...http(), 'localhost/org/app#v1', '--json'])).stdout)
    expect(nested['localhost/org/app#v1'][0].descriptor.digest).toBe(tags['org/app']!.v1)
    expect(nested['localhost/org/app#v1'][0].uri).toBe(`http://localhost:${port}/oci-index/org%2Fapp`)
  })

  it('follows a multi-platform index to the requested platform', async () => {
    const r = JSON.parse((await ocisite(['resolve', ...http(), '--platform', 'linux/arm64/v8', 'localhost/multi#2.0', '--json'])).stdout)
    const d = r['localhost/multi#2.0'][0].descriptor
    expect(d.platform).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' })
    expect(d.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
  })

  it('distinguishes "no such tag" (3) from "network failure" (4) and a bad name (2)', async () => {
    const missing = await ocisite(['resolve', ...http(), 'localhost/app#9.9'])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toContain('error[NOT_FOUND]')
    expect(missing.stderr).toContain('no entry tagged "9.9"')
    const down = await ocisite(['resolve', '--protocol', 'http', '--port', '1', 'localhost/app#1.0'])
    expect(down.code).toBe(4)
    expect(down.stderr).toContain('error[NETWORK]')
    const bad = await ocisite(['resolve', 'example.com:8080/app'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('has a port')
  })

  it('prints JSON by default when stdout is not a terminal', async () => {
    const r = await ocisite(['resolve', ...http(), 'localhost/app#1.0'])
    expect(JSON.parse(r.stdout)['localhost/app#1.0'][0].descriptor.digest).toBe(tags.app!['1.0'])
  })
})

describe('protocols', () => {
  it('tries repeated --protocol flags in order: https fails on a plain-HTTP port, then http answers', async () => {
    const r = await ocisite(['resolve', '--protocol', 'https', '--protocol', 'http', '--port', String(port), '--verbose', 'localhost/app#1.0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const https = r.stderr.indexOf(`GET https://localhost:${port}/.well-known/oci-host-ref-engines: failed`)
    const http = r.stderr.indexOf(`GET http://localhost:${port}/.well-known/oci-host-ref-engines: ok`)
    expect(https).toBeGreaterThanOrEqual(0)
    expect(http).toBeGreaterThan(https)
  })

  it('uses https only unless http is asked for', async () => {
    const r = await ocisite(['resolve', '--port', String(port), '--verbose', 'localhost/app#1.0'])
    expect(r.code).toBe(4)
    expect(r.stderr).not.toContain('GET http://')
  })
})

describe('DNS ancestor walk', () => {
  it('resolves a name under a.b.localhost through b.localhost, and shows the attempts with --verbose', async () => {
    const hosts = ['--resolve', 'a.b.localhost=127.0.0.1', '--resolve', 'b.localhost=127.0.0.1']
    const r = await ocisite(['resolve', ...http(), ...hosts, '--verbose', 'a.b.localhost/app#1.0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const root = JSON.parse(r.stdout)['a.b.localhost/app#1.0'][0]
    expect(root.descriptor.digest).toBe(tags.app!['1.0'])
    expect(root.uri).toBe(`http://b.localhost:${port}/oci-index/app`)
    expect(r.stderr).toContain(`GET http://a.b.localhost:${port}/.well-known/oci-host-ref-engines: failed`)
    expect(r.stderr).toContain(`GET http://b.localhost:${port}/.well-known/oci-host-ref-engines: ok`)
  })
})

describe('XDG discovery config', () => {
  it('resolves a name no well-known document covers, preferring the longest matching key', async () => {
    const home = path.join(work, 'xdg-home')
    const dirs = path.join(work, 'xdg-dirs')
    const good = { refEngines: [{ protocol: 'oci-index-template-v1', uri: `http://localhost:${port}/oci-index/{path}` }] }
    // Port 1 refuses connections: an engine that can never answer.
    const bad = { refEngines: [{ protocol: 'oci-index-template-v1', uri: 'http://127.0.0.1:1/oci-index/{path}' }] }
    await fs.mkdir(path.join(home, 'oci-discovery'), { recursive: true })
    await fs.mkdir(path.join(dirs, 'oci-discovery'), { recursive: true })
    await fs.writeFile(
      path.join(home, 'oci-discovery', 'ref-engine-discovery.json'),
      JSON.stringify({ 'nowhere\\.invalid/.*': bad, 'nowhere\\.invalid/app#.*': { ...good, casEngines: [{ protocol: 'oci-cas-template-v1', uri: `http://localhost:${port}/oci-cas/{algorithm}/{encoded:2}/{encoded}` }] } }),
    )
    // A less-preferred base directory with the same key: the home file wins for that key.
    await fs.writeFile(path.join(dirs, 'oci-discovery', 'ref-engine-discovery.json'), JSON.stringify({ 'nowhere\\.invalid/app#.*': bad, 'other\\.invalid/.*': good }))
    const env = { XDG_CONFIG_HOME: home, XDG_CONFIG_DIRS: dirs }
    const r = await ocisite(['resolve', '--protocol', 'http', 'nowhere.invalid/app#1.0', '--json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const root = JSON.parse(r.stdout)['nowhere.invalid/app#1.0'][0]
    expect(root.descriptor.digest).toBe(tags.app!['1.0'])
    expect(root.casEngines[0].uri).toBe(`http://localhost:${port}/oci-cas/{algorithm}/{encoded:2}/{encoded}`)
    // The shorter key alone answers other paths under nowhere.invalid, with the engine that cannot answer.
    const shorter = await ocisite(['resolve', '--protocol', 'http', 'nowhere.invalid/multi#2.0'], { env })
    expect(shorter.code).toBe(4)
    expect(shorter.stderr).toContain('127.0.0.1:1')
    // Keys from less-preferred directories still count when the home file lacks them.
    const merged = await ocisite(['resolve', '--protocol', 'http', 'other.invalid/multi#2.0', '--json'], { env })
    expect(merged.code, merged.stderr).toBe(0)
  })
})

describe('ocisite pull against nginx', () => {
  async function pullAndCheck(name: string, source: string, tag: string, extra: string[] = []): Promise<string> {
    const dest = path.join(work, 'pulled', name.replace(/\W/g, '_') + extra.join('_').replace(/\W/g, '_'))
    const r = await ocisite(['pull', ...http(), ...extra, name, dest, '--json'])
    expect(r.code, r.stderr).toBe(0)
    await expectSameBytes(dest, source)
    const copy = path.join(work, 'copied', path.basename(dest))
    await fs.mkdir(path.dirname(copy), { recursive: true })
    await run('skopeo', ['copy', ...(extra.includes('--all-platforms') ? ['--all'] : []), `oci:${dest}:${tag}`, `oci:${copy}:${tag}`])
    return dest
  }

  it('pulls a single image with its SBOM, byte for byte; skopeo accepts the layout', async () => {
    const dest = await pullAndCheck('localhost/app#1.0', layouts.app!, '1.0')
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(tags.app!['1.0'])
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('1.0')
    expect(index.manifests[1].artifactType).toBe('application/spdx+json')
    expect((await blobsOf(dest)).size).toBe((await blobsOf(layouts.app!)).size)
  })

  it('pulls one platform of a multi-platform index with --platform', async () => {
    const dest = await pullAndCheck('localhost/multi#2.0', layouts.multi!, '2.0', ['--platform', 'linux/arm64/v8'])
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(index.manifests[0].platform.architecture).toBe('arm64')
    expect((await blobsOf(dest)).size).toBe(3)
  })

  it('pulls every platform with --all-platforms', async () => {
    const dest = await pullAndCheck('localhost/multi#2.0', layouts.multi!, '2.0', ['--all-platforms'])
    expect((await blobsOf(dest)).size).toBe((await blobsOf(layouts.multi!)).size)
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(tags.multi!['2.0'])
  })

  it('pulls an artifact with a custom media type', async () => {
    const dest = await pullAndCheck('localhost/stack#0.1', layouts.stack!, '0.1')
    expect((await blobsOf(dest)).size).toBe((await blobsOf(layouts.stack!)).size)
  })

  it('pulls a nested path', async () => {
    await pullAndCheck('localhost/org/app#v1', layouts['org/app']!, 'v1')
  })

  it('fetches nothing again when the blobs are already present and verified', async () => {
    const dest = path.join(work, 'pulled', 'twice')
    const first = JSON.parse((await ocisite(['pull', ...http(), 'localhost/app#1.0', dest, '--json'])).stdout)
    const second = JSON.parse((await ocisite(['pull', ...http(), 'localhost/app#1.0', dest, '--json'])).stdout)
    expect(first.blobs.fetched).toBe(first.blobs.total)
    expect(second.blobs.fetched).toBe(0)
    expect(second.blobs.cached).toBe(first.blobs.total)
    // A damaged cached blob is noticed and fetched again.
    const victim = (await fs.readdir(path.join(dest, 'blobs', 'sha256')))[0]!
    await fs.writeFile(path.join(dest, 'blobs', 'sha256', victim), 'damaged')
    const third = JSON.parse((await ocisite(['pull', ...http(), 'localhost/app#1.0', dest, '--json'])).stdout)
    expect(third.blobs.fetched).toBe(1)
    await expectSameBytes(dest, layouts.app!)
  })
})

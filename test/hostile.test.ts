import { createHash, randomBytes } from 'node:crypto'
import { execFile, execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { ocisite } from './helpers/cli.js'
import { image, tempDir } from './helpers/fixtures.js'
import { traceLines } from './helpers/strace.js'

const INDEX = 'application/vnd.oci.image.index.v1+json'
const execFileAsync = promisify(execFile)
/** node with tsx's loader, running the CLI's pull directly (so signals reach ocisite itself). */
const tsxNode = ['--import', 'tsx', fileURLToPath(new URL('../src/bin.ts', import.meta.url)), 'pull']
let work: string
let server: http.Server
let port: number
let blobs: Map<string, Buffer>
let manifest: { mediaType: string; digest: string; size: number }
let layerHex: string
/**
 * An image whose one layer is large enough (24 MiB) to be hashed and written on a worker thread,
 * and 1,234 bytes more, so its last chunk is short and not a whole number of disk blocks.
 */
let bigManifest: { mediaType: string; digest: string; size: number }
let bigLayerHex: string
let notJson: { mediaType: string; digest: string; size: number }
/** Bytes the server has besides the fixture image's blobs. */
const served = new Map<string, Buffer>()

const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, chunked = false) => {
  res.statusCode = status
  res.setHeader('content-type', type)
  if (!chunked) return void res.end(body)
  // Two writes: no Content-Length, so only the streamed bytes can tell the client the size.
  const bytes = Buffer.from(body)
  res.write(bytes.subarray(0, bytes.length >> 1))
  res.end(bytes.subarray(bytes.length >> 1))
}

function indexFor(cas: string[], of = manifest): string {
  return JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...of, annotations: { 'org.opencontainers.image.ref.name': 't' }, casEngines: cas.map((uri) => ({ protocol: 'oci-cas-template-v1', uri })) }],
  })
}

/** A server that breaks the protocol in one way per image path. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/'
  if (url === '/.well-known/oci-host-ref-engines') {
    return send(res, 200, 'application/vnd.oci.ref-engines.v1+json; charset=utf-8', JSON.stringify({ refEngines: [{ protocol: 'oci-index-template-v1', uri: '/idx/{path}' }, { protocol: 'unknown-protocol-v9' }] }))
  }
  const idx = /^\/idx\/(.+)$/.exec(url)
  if (idx) {
    const c = idx[1]!
    if (c.startsWith('big-')) return send(res, 200, INDEX, indexFor([`/cas/${c.slice(4)}/{algorithm}/{encoded}`], bigManifest))
    switch (c) {
      case 'wrong-type':
        return send(res, 200, 'application/json', indexFor(['/cas/good/{algorithm}/{encoded}']))
      case 'bad-json':
        return send(res, 200, INDEX, '{"manifests": [')
      case 'too-big': {
        res.setHeader('content-type', INDEX)
        const chunk = Buffer.alloc(1024 * 1024, 0x20)
        for (let i = 0; i < 5; i++) res.write(chunk)
        return void res.end('{}')
      }
      case 'redirect-loop':
        res.writeHead(302, { location: '/idx/redirect-loop-b' })
        return void res.end()
      case 'redirect-loop-b':
        res.writeHead(302, { location: '/idx/redirect-loop' })
        return void res.end()
      case 'bad-manifest':
        // The bytes match the descriptor, but they are not a manifest.
        return send(res, 200, INDEX, JSON.stringify({ schemaVersion: 2, manifests: [{ ...notJson, annotations: { 'org.opencontainers.image.ref.name': 't' }, casEngines: [{ protocol: 'oci-cas-template-v1', uri: '/cas/good/{algorithm}/{encoded}' }] }] }))
      case 'fallback':
        return send(res, 200, INDEX, indexFor(['/missing/{encoded}', '/cas/good/{algorithm}/{encoded}']))
      case 'reset-then-good':
      case 'close-then-good':
      case 'stall-then-good':
        return send(res, 200, INDEX, indexFor([`/cas/${c.replace('-then-good', '')}/{algorithm}/{encoded}`, '/cas/good/{algorithm}/{encoded}']))
      default:
        return send(res, 200, INDEX, indexFor([`/cas/${c}/{algorithm}/{encoded}`]))
    }
  }
  const cas = /^\/cas\/([a-z-]+)\/sha256\/([0-9a-f]{64})$/.exec(url)
  const bytes = cas ? (blobs.get(cas[2]!) ?? served.get(cas[2]!)) : undefined
  if (cas && bytes) {
    const isLayer = cas[2] === layerHex || cas[2] === bigLayerHex
    if (isLayer && cas[1] === 'redirect') {
      res.writeHead(302, { location: `/cas/good/sha256/${cas[2]}` })
      return void res.end()
    }
    if (isLayer && cas[1] === 'long-blob') return send(res, 200, 'application/octet-stream', Buffer.concat([bytes, Buffer.from('and then some')]), true)
    if (isLayer && cas[1] === 'short-blob') return send(res, 200, 'application/octet-stream', bytes.subarray(0, bytes.length - 10))
    if (isLayer && ['reset', 'close', 'stall', 'trickle'].includes(cas[1]!)) {
      // Half the body under a full Content-Length, then: a TCP reset, a clean close, silence, or 1 byte/s.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length })
      res.write(bytes.subarray(0, bytes.length >> 1))
      if (cas[1] === 'reset') setTimeout(() => req.socket.resetAndDestroy(), 50)
      if (cas[1] === 'close') setTimeout(() => req.socket.destroy(), 50)
      if (cas[1] === 'trickle') {
        let at = bytes.length >> 1
        const timer = setInterval(() => (at < bytes.length ? res.write(bytes.subarray(at, ++at)) : res.end()), 1000)
        res.on('close', () => clearInterval(timer))
      }
      return
    }
    if (isLayer && cas[1] === 'digest-mismatch') {
      const bad = Buffer.from(bytes)
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff
      return send(res, 200, 'application/octet-stream', bad)
    }
    return send(res, 200, 'application/octet-stream', bytes)
  }
  send(res, 404, 'text/plain', 'not found')
}

beforeAll(async () => {
  work = await tempDir()
  const w = await OciLayout.create(path.join(work, 'source'))
  const m = await image(w, 'amd64', 'hostile fixture '.repeat(100))
  manifest = { mediaType: m.mediaType, digest: m.digest, size: m.size }
  blobs = new Map()
  for (const f of await fs.readdir(path.join(work, 'source', 'blobs', 'sha256'))) blobs.set(f, await fs.readFile(path.join(work, 'source', 'blobs', 'sha256', f)))
  layerHex = JSON.parse(blobs.get(m.digest.slice(7))!.toString()).layers[0].digest.slice(7)
  const bigLayer = await w.putBytes(randomBytes(24 * 1024 * 1024 + 1234), 'application/vnd.oci.image.layer.v1.tar')
  const bigConfig = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [bigLayer.digest] } }, 'application/vnd.oci.image.config.v1+json')
  const big = await w.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: bigConfig, layers: [bigLayer] }, 'application/vnd.oci.image.manifest.v1+json')
  bigManifest = { mediaType: big.mediaType, digest: big.digest, size: big.size }
  bigLayerHex = bigLayer.digest.slice(7)
  for (const d of [bigLayer, bigConfig, big]) served.set(d.digest.slice(7), await fs.readFile(path.join(work, 'source', 'blobs', 'sha256', d.digest.slice(7))))
  const garbage = Buffer.from('this is not a manifest')
  const garbageHex = createHash('sha256').update(garbage).digest('hex')
  served.set(garbageHex, garbage)
  notJson = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${garbageHex}`, size: garbage.length }
  server = http.createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as { port: number }).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  await fs.rm(work, { recursive: true, force: true })
})

/** Nothing unverified in DEST: every blob hashes to its name, and no temporary file remains. */
async function expectOnlyVerified(dest: string): Promise<void> {
  const dir = path.join(dest, 'blobs', 'sha256')
  const names = await fs.readdir(dir).catch(() => [] as string[])
  for (const name of names) {
    expect(name.startsWith('.ocisite-tmp-'), `temporary file ${name} left behind`).toBe(false)
    const hex = createHash('sha256').update(await fs.readFile(path.join(dir, name))).digest('hex')
    expect(hex, `${name} does not verify`).toBe(name)
  }
  const index = await fs.readFile(path.join(dest, 'index.json'), 'utf8').catch(() => undefined)
  if (index) expect(JSON.parse(index).manifests).toEqual([])
}

describe('a hostile or broken server gets a clear error, and DEST keeps nothing unverified', () => {
  it.each([
    ['wrong-type', 'Content-Type is "application/json"'],
    ['bad-json', 'invalid JSON'],
    ['too-big', 'over the 4194304-byte limit'],
    ['redirect-loop', 'redirect loop'],
    ['long-blob', 'longer than'],
    ['short-blob', 'but its descriptor says'],
    ['digest-mismatch', 'digest mismatch'],
    ['bad-manifest', 'invalid JSON'],
  ])('%s', async (c, message) => {
    const dest = path.join(work, `dest-${c}`)
    const r = await ocisite(['pull', '--protocol', 'http', '--port', String(port), `127.0.0.1/${c}#t`, dest])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain(message)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    await expectOnlyVerified(dest)
  })

  it('falls back to the next CAS engine after a 404', async () => {
    const dest = path.join(work, 'dest-fallback')
    const r = await ocisite(['pull', '--protocol', 'http', '--port', String(port), '127.0.0.1/fallback#t', dest, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).blobs.fetched).toBe(3)
    for (const [hex, bytes] of blobs) expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', hex))).equals(bytes)).toBe(true)
    expect(JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8')).manifests[0].digest).toBe(manifest.digest)
  })
})

describe('a large layer, hashed and written on a worker thread while it arrives', () => {
  it('arrives byte for byte', async () => {
    const dest = path.join(work, 'dest-big-good')
    const r = await ocisite(['pull', '--protocol', 'http', '--port', String(port), '127.0.0.1/big-good#t', dest])
    expect(r.code, r.stderr).toBe(0)
    expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', bigLayerHex))).equals(served.get(bigLayerHex)!)).toBe(true)
    await expect(fs.readdir(path.join(dest, 'blobs', 'sha256'))).resolves.toHaveLength(3)
  })

  it('is written with O_DIRECT, past the page cache, where the file system takes it', async () => {
    const dest = path.join(work, 'dest-big-direct')
    const trace = path.join(work, 'big-direct.strace')
    // (Run asynchronously: the server answering the pull lives in this process.)
    await execFileAsync('strace', ['-f', '-e', 'trace=openat', '-o', trace, process.execPath, ...tsxNode, '--protocol', 'http', '--port', String(port), '127.0.0.1/big-good#t', dest])
    // One open of its temporary file, direct: the short last chunk did not fall back to the page cache.
    const opens = (await fs.readFile(trace, 'utf8')).split('\n').filter((l) => l.includes(`${bigLayerHex}"`) && l.includes('.ocisite-tmp'))
    expect(opens).toHaveLength(1)
    expect(opens[0]).toContain('O_DIRECT')
    expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', bigLayerHex))).equals(served.get(bigLayerHex)!)).toBe(true)
  })

  it('goes on through the page cache when the disk refuses a direct write (a short last chunk not rounded to its blocks)', async () => {
    // Alignment 1: the full 2 MiB chunks are still whole blocks and go direct; the last 1,234
    // bytes are not, and this disk (512-byte blocks or larger) refuses them with EINVAL.
    const file = path.join(work, 'direct-refused.bin')
    const traces = path.join(work, 'direct-refused-strace')
    await fs.mkdir(traces)
    const size = 8 * 1024 * 1024 + 1234
    // (-ff: one file per thread, so a write's call and its result are on one line.)
    const { stdout } = await execFileAsync('strace', ['-ff', '-e', 'trace=openat,pwrite64', '-o', path.join(traces, 't'), process.execPath, '--import', 'tsx', 'test/helpers/direct-write.ts', file, String(size), '1'], { cwd: path.dirname(path.dirname(fileURLToPath(import.meta.url))) })
    const { hex, expected } = JSON.parse(stdout) as { hex: string; expected: string }
    expect(hex).toBe(expected)
    expect((await fs.stat(file)).size).toBe(size)
    expect(createHash('sha256').update(await fs.readFile(file)).digest('hex')).toBe(expected)
    const lines = await traceLines(path.join(traces, 't'))
    const opens = lines.filter((l) => l.includes(`${file}"`)).sort((a, b) => (a.includes('O_DIRECT') ? -1 : b.includes('O_DIRECT') ? 1 : 0))
    expect(opens).toHaveLength(2)
    expect(opens[0]).toContain('O_DIRECT')
    expect(opens[1]).toContain('O_RDWR')
    expect(opens[1]).not.toContain('O_DIRECT')
    expect(lines.filter((l) => /pwrite64\(.*, 1234, 8388608\) += -1 EINVAL/.test(l))).toHaveLength(1)
    expect(lines.filter((l) => /pwrite64\(.*, 1234, 8388608\) += 1234$/.test(l))).toHaveLength(1)
  })

  it('is written through the page cache where the file system refuses O_DIRECT (ramfs)', async () => {
    // ramfs refuses O_DIRECT at open. It is mounted in a mount namespace of its own, which goes
    // with the command, so the pulled layer's hash is taken in there.
    const mnt = path.join(work, 'ramfs')
    await fs.mkdir(mnt)
    const script = 'mount -t ramfs ramfs "$0" && "$@" && sha256sum "$0"/dest/blobs/sha256/* && ls -a "$0"/dest/blobs/sha256'
    const { stdout: out } = await execFileAsync('unshare', ['--mount', 'sh', '-c', script, mnt, process.execPath, ...tsxNode, '--protocol', 'http', '--port', String(port), '127.0.0.1/big-good#t', path.join(mnt, 'dest')])
    expect(out).toContain(`${bigLayerHex}  ${mnt}/dest/blobs/sha256/${bigLayerHex}`)
    // Every blob's bytes match its name, and no temporary file is left.
    const sums = out.split('\n').filter((l) => l.includes('  /'))
    expect(sums).toHaveLength(3)
    for (const l of sums) expect(l.split('  ')[1]!.endsWith(l.split('  ')[0]!)).toBe(true)
    expect(out).not.toContain('.ocisite-tmp')
  })

  /** The socket reads of a pull of `c`, traced: `read(fd, "...", LENGTH) = N` lines. */
  async function socketReads(c: string, dest: string): Promise<string[]> {
    const trace = path.join(work, `${c}.reads.strace`)
    await execFileAsync('strace', ['-f', '-e', 'trace=read', '-o', trace, process.execPath, ...tsxNode, '--protocol', 'http', '--port', String(port), `127.0.0.1/${c}#t`, dest])
    expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', bigLayerHex))).equals(served.get(bigLayerHex)!)).toBe(true)
    return (await fs.readFile(trace, 'utf8')).split('\n').filter((l) => / read\(\d+, /.test(l))
  }

  it('is read from the socket straight into the hashing thread\'s 2 MiB slots, not in 64 KiB buffers', async () => {
    const reads = await socketReads('big-good', path.join(work, 'dest-big-reads'))
    expect(reads.filter((l) => /, 2097152\) = \d+$/.test(l)).length).toBeGreaterThan(0)
  })

  it('after a redirect, is read through undici in 2 MiB socket reads too, and arrives byte for byte', async () => {
    // The socket reader takes only a simple 200; a redirect goes through undici, whose plain-HTTP
    // connections read 2 MiB at a time (http/dispatcher.ts), not node:http's 64 KiB.
    const reads = await socketReads('big-redirect', path.join(work, 'dest-big-redirect'))
    expect(reads.filter((l) => /, 2097152\) = \d+$/.test(l)).length).toBeGreaterThan(0)
  })

  it('a server trickling the large layer fails within the --speed-limit window', async () => {
    const dest = path.join(work, 'dest-big-trickle')
    const r = await ocisite(['pull', '--protocol', 'http', '--port', String(port), '127.0.0.1/big-trickle#t', dest, '--speed-limit', '100', '--speed-time', '3'])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toMatch(/error\[NETWORK\].*\/cas\/trickle\/sha256\/[0-9a-f]{64}: transfer slower than 100 bytes\/s for 3 s \(after \d+ bytes\)/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    // It gave up on the speed window, not at the end of the body: at 1 byte/s the second half
    // of the layer would take weeks, and far less of it than that had arrived.
    const after = Number(/\(after (\d+) bytes\)/.exec(r.stderr)![1])
    expect(after).toBeLessThan(24 * 1024 * 1024 + 1234)
    await expectOnlyVerified(dest)
  })

  it.each([
    ['digest-mismatch', 'digest mismatch'],
    ['long-blob', 'longer than'],
    ['short-blob', 'but its descriptor says'],
    ['close', 'error[NETWORK]'],
    ['reset', 'error[NETWORK]'],
  ])('%s: exit 4 with one line, and nothing unverified kept', async (c, message) => {
    const dest = path.join(work, `dest-big-${c}`)
    const r = await ocisite(['pull', '--protocol', 'http', '--port', String(port), `127.0.0.1/big-${c}#t`, dest])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain(message)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    await expectOnlyVerified(dest)
    await expect(fs.stat(path.join(dest, 'blobs', 'sha256', bigLayerHex))).rejects.toThrow()
  })
})

describe('a server that breaks the connection: exit 4 with one line, or the next engine', () => {
  const pull = (c: string, dest: string, extra: string[] = []) => ocisite(['pull', '--protocol', 'http', '--port', String(port), `127.0.0.1/${c}#t`, dest, ...extra])
  const fast = ['--speed-limit', '1000', '--speed-time', '2']

  it.each([
    ['reset', 'reset mid-body', [] as string[]],
    ['close', 'closed mid-body', [] as string[]],
    ['stall', 'stalled mid-body', fast],
  ])('%s with one engine: exit 4 (%s)', async (c, _, extra) => {
    const dest = path.join(work, `dest-net-${c}`)
    const r = await pull(c, dest, extra)
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/error\[NETWORK\]/)
    await expectOnlyVerified(dest)
  })

  it.each(['reset', 'close', 'stall'])('%s, then a working engine: exit 0 from the second', async (c) => {
    const dest = path.join(work, `dest-net-${c}-good`)
    const r = await pull(`${c}-then-good`, dest, ['--json', ...fast])
    expect(r.code, r.stderr).toBe(0)
    for (const [hex, bytes] of blobs) expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', hex))).equals(bytes)).toBe(true)
  })

  it('a 1 byte/s server fails within the --speed-limit window', async () => {
    const dest = path.join(work, 'dest-trickle')
    // At 1 byte/s the body would take far longer than the test's own time limit: failing at all
    // with this message shows the speed window, not the end of the body, ended it.
    const r = await pull('trickle', dest, ['--speed-limit', '100', '--speed-time', '3'])
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain('transfer slower than 100 bytes/s for 3 s')
    await expectOnlyVerified(dest)
  })

  it('a FIFO in DEST where a blob goes is replaced, not opened', async () => {
    const dest = path.join(work, 'dest-fifo')
    await fs.mkdir(path.join(dest, 'blobs', 'sha256'), { recursive: true })
    // An existing layout (pull refuses a non-empty directory that is not one).
    await fs.writeFile(path.join(dest, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    execFileSync('mkfifo', [path.join(dest, 'blobs', 'sha256', layerHex)])
    // Opening the FIFO would block for ever: a pull that returns at all did not open it.
    const r = await pull('good', dest)
    expect(r.code, r.stderr).toBe(0)
    expect((await fs.lstat(path.join(dest, 'blobs', 'sha256', layerHex))).isFile()).toBe(true)
    for (const [hex, bytes] of blobs) expect((await fs.readFile(path.join(dest, 'blobs', 'sha256', hex))).equals(bytes)).toBe(true)
  })

  it('SIGTERM during a stalled transfer leaves no temporary file', async () => {
    const dest = path.join(work, 'dest-sigterm')
    const child = spawn(process.execPath, [...tsxNode, '127.0.0.1/stall#t', dest, '--protocol', 'http', '--port', String(port)], { stdio: 'ignore' })
    const dir = path.join(dest, 'blobs', 'sha256')
    const deadline = Date.now() + 20_000
    while (!(await fs.readdir(dir).catch(() => [] as string[])).some((n) => n.startsWith('.ocisite-tmp-'))) {
      if (Date.now() > deadline) throw new Error('the pull never started writing')
      await new Promise((r) => setTimeout(r, 50))
    }
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(143)
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.ocisite-tmp-'))).toEqual([])
  })
})

// `get` of an artifact with a 512 MiB tar layer, through the installed CLI and Debian's nginx:
// the layer streams from the cache into DIR, verified as it is read, so the process's peak
// memory (measured by /usr/bin/time) stays well under the layer's size.
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { MediaType } from '../src/oci/media-types.js'
import { tempDir } from './helpers/fixtures.js'
import { installed, installedBin, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

let work: string | undefined
let nginx: RunningNginx | undefined

afterAll(async () => {
  await nginx?.stop()
  if (work) await fs.rm(work, { recursive: true, force: true })
})

describe('get in flat memory', () => {
  it('an artifact with a 512 MiB tar layer is written into DIR with a peak RSS well under the layer size', async () => {
    work = await tempDir()
    const stage = path.join(work, 'stage')
    await fs.mkdir(stage)
    // Written and hashed by shell tools, so the test never holds the layer in memory either.
    const sh = async (script: string) => (await run('sh', ['-c', script], { cwd: stage, maxBuffer: MiB })).stdout
    await sh(`head -c ${512 * MiB} /dev/urandom > big.bin && tar -cf layer.tar big.bin`)
    const fileHex = (await sh('sha256sum big.bin && rm big.bin')).slice(0, 64)
    const layerHex = (await sh('sha256sum layer.tar')).slice(0, 64)
    const layerSize = (await fs.stat(path.join(stage, 'layer.tar'))).size
    expect(layerSize).toBeGreaterThan(512 * MiB)

    const layout = path.join(work, 'layouts', 'big')
    const w = await OciLayout.create(layout)
    await fs.mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true })
    await fs.rename(path.join(stage, 'layer.tar'), path.join(layout, 'blobs', 'sha256', layerHex))
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: layerSize }
    const config = await w.putBytes(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json')
    await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x.big', config, layers: [layer] }, MediaType.ociManifest), '1')

    const port = await freePort()
    const site = path.join(work, 'site')
    const conf = path.join(work, 'site.conf')
    const built = await installed(['build', path.join(work, 'layouts'), '--host', 'localhost', '--out', site, '--nginx', conf, '--listen', `127.0.0.1:${port}`])
    expect(built.code, built.stderr).toBe(0)
    nginx = await startNginx([conf], port)

    const dir = path.join(work, 'out')
    const env = { ...process.env, XDG_CACHE_HOME: path.join(work, 'cache') }
    const { stderr } = await run('/usr/bin/time', ['-f', 'maxrss=%M', await installedBin(), 'get', 'localhost/big#1', dir, '--protocol', 'http', '--port', String(port)], { cwd: await outsideDir(), env })
    const maxRss = Number(/maxrss=(\d+)/.exec(stderr)![1]) * 1024
    expect(maxRss).toBeLessThan(256 * MiB)
    expect((await fs.stat(path.join(dir, 'big.bin'))).size).toBe(512 * MiB)
    expect((await run('sha256sum', [path.join(dir, 'big.bin')])).stdout.slice(0, 64)).toBe(fileHex)
    expect((await fs.readdir(dir)).sort()).toEqual(['big.bin'])
  }, 600_000)
})

import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { canonicalize } from 'json-canonicalize'
import * as tar from 'tar'
import { beforeAll, describe, expect, it } from 'vitest'
import { build } from '../src/site/build.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { parseDigest } from '../src/oci/digest.js'
import { writeVerified } from '../src/content/ingest/verify.js'
import { ocisite } from './helpers/cli.js'
import { image, restrictBlobs, standardLayouts, tempDir, umociLayout } from './helpers/fixtures.js'
import { traceLines } from './helpers/strace.js'
import { MACHINE_STATE_FILES } from './helpers/tree.js'

let work: string
let layouts: string

beforeAll(async () => {
  work = await tempDir()
  layouts = path.join(work, 'layouts')
  await standardLayouts(layouts)
  umociLayout(path.join(layouts, 'umoci'), 'u1')
})

async function readJson(file: string): Promise<any> {
  return JSON.parse(await fs.readFile(file, 'utf8'))
}

describe('ocisite build', () => {
  it('publishes every layout found below a directory, under its relative path', async () => {
    const out = path.join(work, 'site-all')
    const run = await ocisite(['build', layouts, '--host', 'example.com', '--out', out, '--json'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.images.map((i: any) => i.path)).toEqual(['app', 'multi', 'org/app', 'stack', 'umoci'])
    expect(summary.images[0].tags.map((t: any) => t.tag)).toEqual(['1.0', 'latest'])
    expect(summary.blobs.written).toBe(summary.blobs.total)
    const wellKnown = await fs.readFile(path.join(out, '.well-known/oci-host-ref-engines'), 'utf8')
    expect(wellKnown).toBe(
      '{"casEngines":[{"protocol":"oci-cas-template-v1","uri":"/oci-cas/{algorithm}/{encoded:2}/{encoded}"}],"refEngines":[{"protocol":"oci-index-template-v1","uri":"/oci-index/{path}"}]}',
    )
  })

  it('writes canonical indexes with bare tags, platforms read from configs, and casEngines', async () => {
    const out = path.join(work, 'site-all')
    const raw = await fs.readFile(path.join(out, 'oci-index/app'), 'utf8')
    const index = JSON.parse(raw)
    expect(raw).toBe(canonicalize(index))
    expect(raw.startsWith('{"manifests":[')).toBe(true)
    expect(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['1.0', 'latest'])
    expect(index.manifests[0].platform).toEqual({ architecture: 'amd64', os: 'linux' })
    expect(index.manifests[0].casEngines).toEqual([{ protocol: 'oci-cas-template-v1', uri: '/oci-cas/{algorithm}/{encoded:2}/{encoded}' }])
    // The multi-platform index keeps its own entries; the root entry gets no invented platform.
    const multi = await readJson(path.join(out, 'oci-index/multi'))
    expect(multi.manifests[0].mediaType).toBe('application/vnd.oci.image.index.v1+json')
    expect(multi.manifests[0].platform).toBeUndefined()
  })

  it('stores every reachable blob once, including the SBOM referrer and the artifact layers', async () => {
    const standard = path.join(work, 'standard')
    await standardLayouts(standard)
    const out = path.join(work, 'site-standard')
    await build({ inputs: [standard], host: 'example.com', out })
    const expected = new Set<string>()
    for (const dir of ['app', 'multi', 'org/app', 'stack']) {
      for (const f of await fs.readdir(path.join(standard, dir, 'blobs', 'sha256'))) expected.add(`sha256/${f.slice(0, 2)}/${f}`)
    }
    const stored = new Set<string>()
    for (const shard of await fs.readdir(path.join(out, 'oci-cas', 'sha256'))) {
      for (const f of await fs.readdir(path.join(out, 'oci-cas', 'sha256', shard))) stored.add(`sha256/${shard}/${f}`)
    }
    // Every fixture blob is reachable (the SBOM through its subject); the site adds exactly one
    // generated document, the referrers index that /v2/ serves.
    for (const b of expected) expect(stored.has(b), b).toBe(true)
    expect(stored.size).toBe(expected.size + 1)
  })

  it('leaves out blobs that nothing published reaches (umoci keeps superseded manifests)', async () => {
    const out = path.join(work, 'site-all')
    const umociBlobs = await fs.readdir(path.join(layouts, 'umoci', 'blobs', 'sha256'))
    const present = await Promise.all(umociBlobs.map((f) => fs.stat(path.join(out, 'oci-cas/sha256', f.slice(0, 2), f)).then(() => true, () => false)))
    expect(present.filter(Boolean).length).toBeGreaterThan(0)
    expect(present.filter((p) => !p).length).toBeGreaterThan(0)
  })

  it('gives files 0644 and directories 0755 even when the input blobs are 0600 (umoci)', async () => {
    const modes = execFileSync('find', [path.join(layouts, 'umoci', 'blobs'), '-type', 'f', '-printf', '%m\n'], { encoding: 'utf8' })
    expect(modes.trim().split('\n').every((m) => m === '600')).toBe(true)
    const out = path.join(work, 'site-all')
    const fileModes = new Set(execFileSync('find', [out, '-type', 'f', '-printf', '%m\n'], { encoding: 'utf8' }).trim().split('\n'))
    const dirModes = new Set(execFileSync('find', [out, '-type', 'd', '-printf', '%m\n'], { encoding: 'utf8' }).trim().split('\n'))
    expect([...fileModes]).toEqual(['644'])
    expect([...dirModes]).toEqual(['755'])
  })

  it('is deterministic: two builds into fresh directories are byte-identical (diff -r)', async () => {
    const a = path.join(work, 'det-a')
    const b = path.join(work, 'det-b')
    expect((await ocisite(['build', layouts, '--host', 'example.com', '--out', a])).code).toBe(0)
    expect((await ocisite(['build', layouts, '--host', 'example.com', '--out', b])).code).toBe(0)
    expect(execFileSync('diff', ['-r', ...MACHINE_STATE_FILES.flatMap((f) => ['-x', f]), a, b], { encoding: 'utf8' })).toBe('')
  })

  it('rewrites no blob on a second build into the same directory', async () => {
    const out = path.join(work, 'again')
    const first = await build({ inputs: [layouts], host: 'example.com', out })
    const blobFile = path.join(out, 'oci-cas/sha256', first.images[0]!.tags[0]!.digest.slice(7, 9), first.images[0]!.tags[0]!.digest.slice(7))
    const before = await fs.stat(blobFile)
    const second = await build({ inputs: [layouts], host: 'example.com', out })
    const after = await fs.stat(blobFile)
    expect(second.blobs.written).toBe(0)
    expect(second.blobs.skipped).toBe(first.blobs.total)
    expect(second.documents.written).toBe(0)
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
  })

  it('drops a tag from its index when it leaves the inputs, and prunes what nothing needs', async () => {
    const src = path.join(work, 'dropping')
    const w = await OciLayout.create(src)
    const one = await image(w, 'amd64', 'one')
    const two = await image(w, 'amd64', 'two')
    await w.addToIndex(one, '1')
    await w.addToIndex(two, '2')
    const out = path.join(work, 'dropping-site')
    await build({ inputs: [src], host: 'example.com', out })
    expect((await readJson(path.join(out, 'oci-index/dropping'))).manifests).toHaveLength(2)
    await w.writeIndex([{ ...one, annotations: { 'org.opencontainers.image.ref.name': '1' } }])
    const again = await build({ inputs: [src], host: 'example.com', out })
    const index = await readJson(path.join(out, 'oci-index/dropping'))
    expect(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['1'])
    expect(again.pruned).toBeGreaterThan(0)
    await expect(fs.stat(path.join(out, 'oci-cas/sha256', two.digest.slice(7, 9), two.digest.slice(7)))).rejects.toThrow()
    // The updated site equals a fresh build of the same inputs.
    const fresh = path.join(work, 'dropping-fresh')
    await build({ inputs: [src], host: 'example.com', out: fresh })
    expect(execFileSync('diff', ['-r', ...MACHINE_STATE_FILES.flatMap((f) => ['-x', f]), out, fresh], { encoding: 'utf8' })).toBe('')
  })

  it('filters tags with globs and publishes the tag part of full references', async () => {
    const src = path.join(work, 'globs')
    const w = await OciLayout.create(src)
    const img = await image(w, 'amd64', 'globs')
    await w.addToIndex(img, 'ghcr.io/org/app:v1.2')
    await w.addToIndex(img, 'v2')
    await w.addToIndex(img, 'ams-3')
    await w.addToIndex(img, 'latest')
    const result = await build({ inputs: [src], host: 'example.com', out: path.join(work, 'globs-site'), tags: ['v*', 'ams-*'] })
    expect(result.images[0]!.tags.map((t) => t.tag)).toEqual(['ams-3', 'v1.2', 'v2'])
  })

  it('reads OCI archives, tar and tar.gz, made from real layouts', async () => {
    const tarFile = path.join(work, 'app.tar')
    const tgzFile = path.join(work, 'multi.tar.gz')
    await tar.c({ file: tarFile, cwd: path.join(layouts, 'app'), portable: true }, ['oci-layout', 'index.json', 'blobs'])
    await tar.c({ file: tgzFile, cwd: path.join(layouts, 'multi'), portable: true, gzip: true }, ['.'])
    const out = path.join(work, 'archives')
    const run = await ocisite(['build', tarFile, tgzFile, '--host', 'example.com', '--out', out, '--json'])
    expect(run.stderr).toBe('')
    const summary = JSON.parse(run.stdout)
    expect(summary.images.map((i: any) => i.path)).toEqual(['app', 'multi'])
    const fromDir = await build({ inputs: [path.join(layouts, 'multi')], host: 'example.com', out: path.join(work, 'archives-dir') })
    expect(summary.images[1].tags[0].digest).toBe(fromDir.images[0]!.tags[0]!.digest)
  })

  it('reads ocisite.json: explicit image paths, tag filters, out and nginx', async () => {
    const dir = path.join(work, 'configured')
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(
      path.join(dir, 'ocisite.json'),
      JSON.stringify({
        host: 'config.example',
        out: 'www',
        nginx: { file: 'site.conf', listen: '127.0.0.1:8081' },
        images: [
          { path: 'tools/app', from: path.join(layouts, 'app'), tags: ['1.*'] },
          { path: 'stacks/demo', from: path.join(layouts, 'stack') },
        ],
      }),
    )
    const run = await ocisite(['build', '--json'], { cwd: dir })
    expect(run.stderr).toBe('')
    const summary = JSON.parse(run.stdout)
    expect(summary.images.map((i: any) => [i.path, i.tags.map((t: any) => t.tag)])).toEqual([
      ['stacks/demo', ['0.1']],
      ['tools/app', ['1.0']],
    ])
    expect(summary.out).toBe(path.join(dir, 'www'))
    const conf = await fs.readFile(path.join(dir, 'site.conf'), 'utf8')
    expect(conf).toContain('server_name config.example;')
    expect(conf).toContain('listen 127.0.0.1:8081;')
  })

  it('writes absolute templates with --base-url', async () => {
    const out = path.join(work, 'base-url')
    await build({ inputs: [path.join(layouts, 'app')], host: 'example.com', out, baseUrl: 'https://cdn.example.com/site/' })
    const doc = await readJson(path.join(out, '.well-known/oci-host-ref-engines'))
    expect(doc.refEngines[0].uri).toBe('https://cdn.example.com/site/oci-index/{path}')
    expect(doc.casEngines[0].uri).toBe('https://cdn.example.com/site/oci-cas/{algorithm}/{encoded:2}/{encoded}')
  })

  it('writes TLS server blocks with an HTTP to HTTPS redirect', async () => {
    const out = path.join(work, 'tls')
    const conf = path.join(work, 'tls.conf')
    await build({ inputs: [path.join(layouts, 'app')], host: 'example.com', out, nginx: conf, tlsCert: '/etc/ssl/site.pem', tlsKey: '/etc/ssl/site.key' })
    const text = await fs.readFile(conf, 'utf8')
    expect(text).toContain('listen 443 ssl;\n    listen [::]:443 ssl;')
    expect(text).toContain('ssl_certificate "/etc/ssl/site.pem";')
    expect(text).toMatch(/listen 80;\s+listen \[::\]:80;\s+server_name example.com;\s+location \/ \{\s+return 301 https:\/\/\$host\$request_uri;/)
  })

  it('leaves out /v2/ with --no-v2', async () => {
    const out = path.join(work, 'no-v2')
    const run = await ocisite(['build', path.join(layouts, 'app'), '--host', 'example.com', '--out', out, '--no-v2'])
    expect(run.code).toBe(0)
    await expect(fs.stat(path.join(out, 'v2'))).rejects.toThrow()
    await expect(fs.stat(path.join(out, 'oci-index/app'))).resolves.toBeTruthy()
  })

  it('rejects image paths where one is a prefix of another, saying how to fix it', async () => {
    const dir = path.join(work, 'prefix')
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(
      path.join(dir, 'ocisite.json'),
      JSON.stringify({ host: 'example.com', images: [{ path: 'org', from: path.join(layouts, 'app') }, { path: 'org/app', from: path.join(layouts, 'multi') }] }),
    )
    const run = await ocisite(['build'], { cwd: dir })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('error[PATH_CONFLICT]')
    expect(run.stderr).toContain('"org" and "org/app" collide')
    expect(run.stderr).toContain('for example "org/base"')
  })

  it('merges two inputs into one path when their tags agree', async () => {
    const a = path.join(work, 'merge-a')
    const b = path.join(work, 'merge-b')
    const wa = await OciLayout.create(a)
    const wb = await OciLayout.create(b)
    await wa.addToIndex(await image(wa, 'amd64', 'shared'), 'shared')
    await wb.addToIndex(await image(wb, 'amd64', 'shared'), 'shared')
    await wb.addToIndex(await image(wb, 'amd64', 'extra'), 'extra')
    const dir = path.join(work, 'merge')
    await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify({ host: 'example.com', images: [{ path: 'm', from: a }, { path: 'm', from: b }] }))
    const run = await ocisite(['build', '--json'], { cwd: dir })
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout).images[0].tags.map((t: any) => t.tag)).toEqual(['extra', 'shared'])
  })

  it('publishes a layout whose blobs are 0600 straight from umoci', async () => {
    const dir = path.join(work, 'umoci-only')
    umociLayout(dir, 'edge')
    await restrictBlobs(dir)
    const result = await build({ inputs: [dir], host: 'example.com', out: path.join(work, 'umoci-site') })
    expect(result.images[0]!.tags[0]!.tag).toBe('edge')
    expect(result.images[0]!.tags[0]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
  })
})

/** A layout whose one layer is `size` bytes: by default 20 MiB and 77 (hashed on a worker thread; a short last read). */
async function largeLayout(input: string, size = 20 * 1024 * 1024 + 77): Promise<{ bytes: Buffer; hex: string }> {
  const w = await OciLayout.create(path.join(input, 'big'))
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32BE(i, i)
  const layer = await w.putBytes(bytes, 'application/vnd.oci.image.layer.v1.tar')
  const config = await w.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, 'application/vnd.oci.image.config.v1+json')
  await w.addToIndex(await w.putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] }, 'application/vnd.oci.image.manifest.v1+json'), '1.0')
  return { bytes, hex: layer.digest.slice(7) }
}

const repo = path.dirname(path.dirname(new URL(import.meta.url).pathname))

describe('a local blob over 1 MiB on a file system that cannot clone', () => {
  it.each([
    ['from 16 MiB (20 MiB) is read once into the hashing thread and written with O_DIRECT', 20 * 1024 * 1024 + 77, 1],
    ['of a middling size (5 MiB) is read once and written on this thread, without O_DIRECT', 5 * 1024 * 1024 + 77, 0],
  ])('%s: no in-kernel copy, and the bytes hashed are the bytes written', async (_, size, directOpens) => {
    const input = path.join(work, `large-in-${size}`)
    const { bytes, hex } = await largeLayout(input, size)
    const out = path.join(work, `large-site-${size}`)
    const trace = path.join(work, `large-${size}.strace`)
    execFileSync('strace', ['-ff', '-e', 'trace=openat,ioctl,copy_file_range,sendfile', '-o', trace, process.execPath, '--import', 'tsx', 'src/bin.ts', 'build', input, '--host', 'example.com', '--out', out], { cwd: repo })
    const lines = await traceLines(trace)
    // This disk (ext4) refuses the clone; nothing is then copied in the kernel.
    expect(lines.filter((l) => /FICLONE.* = -1 EOPNOTSUPP/.test(l))).toHaveLength(1)
    expect(lines.filter((l) => /copy_file_range\(|sendfile\(/.test(l))).toEqual([])
    const opens = lines.filter((l) => l.includes('openat(') && l.includes(`${hex}"`) && l.includes('.ocisite-tmp') && !l.includes('ENOENT'))
    expect(opens.filter((l) => /O_DIRECT(?!ORY)/.test(l))).toHaveLength(directOpens)
    expect((await fs.readFile(path.join(out, 'oci-cas', 'sha256', hex.slice(0, 2), hex))).equals(bytes)).toBe(true)
  })

  it.each([
    ['on a hashing thread', 17 * 1024 * 1024],
    ['on this thread', 2 * 1024 * 1024],
  ])('that grew after it was planned (%s): reading stops past its size, it is refused as longer, and nothing is kept', async (_, size) => {
    // (The plan checks each input's size by its stat; this is the write's own check, for a file that changed since.)
    const dir = path.join(work, `grown-${size}`)
    await fs.mkdir(dir)
    const file = path.join(dir, 'source')
    await fs.writeFile(file, Buffer.alloc(40 * 1024 * 1024, 1))
    const target = path.join(dir, 'target')
    const digest = parseDigest(`sha256:${'0'.repeat(64)}`, 'test')
    let read = 0
    await expect(writeVerified({ file }, target, { digest, size, label: 'grown' }, (n) => (read += n))).rejects.toMatchObject({ code: 'SIZE_MISMATCH', message: expect.stringContaining(`is longer than the ${size} bytes its descriptor says`) })
    expect(read).toBeLessThan(40 * 1024 * 1024)
    expect(await fs.readdir(dir)).toEqual(['source'])
  })
})

describe('a large input blob on a file system that clones (XFS with reflink, on a loop device)', () => {
  it('is cloned, not copied, and its source hashed; a source with the wrong bytes is refused and nothing is kept', async () => {
    const input = path.join(work, 'clone-in')
    const { bytes, hex } = await largeLayout(input)
    const img = path.join(work, 'xfs.img')
    const mnt = path.join(work, 'xfs')
    await fs.mkdir(mnt)
    execFileSync('truncate', ['-s', '300M', img])
    execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', img])
    const trace = path.join(work, 'clone.strace')
    const blob = `big/blobs/sha256/${hex}`
    // In a mount namespace of its own, which goes with the command: the checks are made in there.
    const script = [
      'set -e',
      'mount -o loop "$0" "$1"',
      'cp -r "$2" "$1/in"',
      'strace -ff -e trace=ioctl,copy_file_range,sendfile,openat -o "$3" "$4" --import tsx src/bin.ts build "$1/in" --host example.com --out "$1/site" >/dev/null',
      `cmp "$1/in/${blob}" "$1/site/oci-cas/sha256/${hex.slice(0, 2)}/${hex}" && echo same bytes`,
      // The same size, one byte changed: the clone's source is hashed, so this is caught.
      `printf x | dd of="$1/in/${blob}" bs=1 seek=1000 conv=notrunc 2>/dev/null`,
      `if "$4" --import tsx src/bin.ts build "$1/in" --host example.com --out "$1/site2" 2>"$1/err"; then echo built; else echo refused; fi`,
      'cat "$1/err"',
      `ls -a "$1/site2/oci-cas/sha256/${hex.slice(0, 2)}" 2>/dev/null || echo no-directory`,
    ].join('\n')
    const out = execFileSync('unshare', ['--mount', 'sh', '-c', script, img, mnt, input, trace, process.execPath], { cwd: repo, encoding: 'utf8' })
    const lines = await traceLines(trace)
    expect(lines.filter((l) => /FICLONE.* = 0$/.test(l))).toHaveLength(1)
    expect(lines.filter((l) => /copy_file_range\(|sendfile\(/.test(l))).toEqual([])
    expect(lines.filter((l) => /O_DIRECT(?!ORY)/.test(l))).toEqual([])
    expect(out).toContain('same bytes')
    expect(out).toContain('refused')
    expect(out).toMatch(new RegExp(`error\\[DIGEST_MISMATCH\\].*sha256:${hex}`))
    expect(out).not.toContain('.ocisite-tmp')
    expect(out).not.toContain(hex + '\n')
    expect(bytes.length).toBe(20 * 1024 * 1024 + 77)
  })
})

// A referrer packed in its own layout is published in its subject's repository: the flow README
// documents (pack an SBOM with --subject NAME#TAG against the live site, then add its layout),
// a build of both layouts together, the reverse order, and a referrer that waits for its
// subject. Everything runs through the installed CLI from outside the checkout, and every view
// is read from Debian's nginx with the generated config: /v2/<name>/referrers/<digest>, the
// sha256-<hex> fallback tag, and oci-index.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Descriptor } from '../src/oci/descriptor.js'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { MediaType } from '../src/oci/media-types.js'
import { image, sbomFor, SBOM_TYPE } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { siteProblems } from './helpers/site-check.js'
import { snapshot } from './helpers/tree.js'

const SBOM_TEXT = '{"spdxVersion":"SPDX-2.3","name":"app"}\n'

let user: string // the user's working directory, outside the checkout
let subject: Descriptor // app#1.0
let sbom: string // the digest of the SBOM manifest pack wrote
const servers: RunningNginx[] = []
const env = () => ({ XDG_CACHE_HOME: path.join(user, '.cache'), SOURCE_DATE_EPOCH: '1700000000' })

async function cli(args: string[]) {
  const r = await installed(args, { cwd: user, env: env() })
  expect(r.code, `ocisite ${args.join(' ')}\n${r.stderr}`).toBe(0)
  return r
}

/** Build a site from these inputs under nginx on a port of its own; its directory and port. */
async function servedBuild(name: string, inputs: string[]): Promise<{ site: string; port: number }> {
  const port = await freePort()
  const conf = path.join(user, `${name}.conf`)
  await cli(['build', ...inputs, '--host', 'localhost', '--out', name, '--nginx', conf, '--listen', `127.0.0.1:${port}`])
  servers.push(await startNginx([conf], port))
  return { site: path.join(user, name), port }
}

async function get(port: number, urlPath: string, method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { method })
  return { status: res.status, type: res.headers.get('content-type'), body: method === 'GET' ? await res.text() : '' }
}

/** The three views of `repo`'s referrers of `subject`, as nginx serves them: the list each gives. */
async function referrersOf(port: number, repo: string, of: Descriptor): Promise<string[]> {
  const api = await get(port, `/v2/${repo}/referrers/${of.digest}`)
  expect(api.status).toBe(200)
  expect(api.type).toBe(MediaType.ociIndex)
  const fallback = await get(port, `/v2/${repo}/manifests/sha256-${of.digest.slice(7)}`)
  expect(fallback.status).toBe(200)
  expect(fallback.type).toBe(MediaType.ociIndex)
  expect(fallback.body).toBe(api.body)
  const listed = JSON.parse(api.body).manifests as Descriptor[]
  for (const d of listed) {
    // Each referrer is served by digest in the subject's repository, and names the subject.
    const manifest = await get(port, `/v2/${repo}/manifests/${d.digest}`)
    expect(manifest.status).toBe(200)
    expect(JSON.parse(manifest.body).subject.digest).toBe(of.digest)
  }
  // oci-index: the subject's image still lists just its own tags; the referrer is not one of them.
  const index = await get(port, `/oci-index/${repo}`)
  expect(index.status).toBe(200)
  expect(JSON.parse(index.body).manifests.map((m: Descriptor) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([['1.0', of.digest]])
  return listed.map((d) => d.digest)
}

/** The SBOM layout's own tag, through oci-index (discovery only, no /v2/): `sbom`, naming app#1.0 as its subject. */
async function expectSbomTag(port: number): Promise<void> {
  const index = JSON.parse((await get(port, '/oci-index/app-sbom')).body)
  expect(index.manifests.map((m: Descriptor) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([['sbom', sbom]])
  const dir = path.join(await outsideDir(), 'got')
  await cli(['get', 'localhost/app-sbom#sbom', dir, '--protocol', 'http', '--port', String(port)])
  expect(await fs.readFile(path.join(dir, 'sbom.spdx.json'), 'utf8')).toBe(SBOM_TEXT)
}

/** What a site serves, and its record of what it publishes. */
async function published(site: string): Promise<Map<string, string>> {
  const snap = await snapshot(site)
  for (const k of [...snap.keys()]) if (k.startsWith('.ocisite') && k !== '.ocisite/site.json') snap.delete(k)
  return snap
}

beforeAll(async () => {
  user = await outsideDir()
  const app = await OciLayout.create(path.join(user, 'layouts', 'app'))
  subject = await image(app, 'amd64', 'hello from app')
  await app.addToIndex(subject, '1.0')
  await fs.writeFile(path.join(user, 'sbom.spdx.json'), SBOM_TEXT)
})

afterAll(async () => {
  for (const s of servers) await s.stop()
  await fs.rm(user, { recursive: true, force: true })
})

describe('the documented flow: pack --subject NAME#TAG against the live site, then add', () => {
  let live: { site: string; port: number }

  it('publishes the SBOM as a referrer in the subject\'s repository (all three views), and pull brings it', async () => {
    live = await servedBuild('public', ['layouts/app'])
    const packed = await cli(['pack', 'sbom.spdx.json:application/spdx+json', '--subject', 'localhost/app#1.0', '--protocol', 'http', '--port', String(live.port), '--out', 'layouts/app-sbom', '--tag', 'sbom', '--json'])
    sbom = JSON.parse(packed.stdout).digest
    expect((await get(live.port, `/v2/app/referrers/${subject.digest}`)).body).toContain('"manifests":[]')

    const added = await cli(['add', 'layouts/app-sbom', '--site', 'public'])
    expect(added.stderr).toBe('')
    expect(added.stdout).toContain('localhost/app: 1.0 (1 referrer)\nlocalhost/app-sbom: sbom\n')
    expect(await referrersOf(live.port, 'app', subject)).toEqual([sbom])
    await expectSbomTag(live.port)
    const api = JSON.parse((await get(live.port, `/v2/app/referrers/${subject.digest}`)).body)
    expect(api.manifests[0]).toMatchObject({ mediaType: MediaType.ociManifest, digest: sbom })

    // pull of the subject fetches the referrers the site lists, into the layout it writes.
    const dest = path.join(await outsideDir(), 'pulled')
    const pulled = JSON.parse((await cli(['pull', 'localhost/app#1.0', dest, '--protocol', 'http', '--port', String(live.port), '--json'])).stdout)
    expect(pulled.referrers).toEqual([sbom])
    const manifest = JSON.parse(await fs.readFile(path.join(dest, 'blobs/sha256', sbom.slice(7)), 'utf8'))
    expect(await fs.readFile(path.join(dest, 'blobs/sha256', manifest.layers[0].digest.slice(7)), 'utf8')).toBe(SBOM_TEXT)
    expect(JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8')).manifests.map((m: Descriptor) => m.digest)).toContain(sbom)

    const verified = await cli(['verify', `http://127.0.0.1:${live.port}`, '--deep'])
    expect(verified.stdout).toMatch(/^ok: /)
    expect(await siteProblems(live.site)).toEqual([])
  })

  it('a build of both layouts together gives the same site, byte for byte', async () => {
    const both = await servedBuild('both', ['layouts/app', 'layouts/app-sbom'])
    expect(await referrersOf(both.port, 'app', subject)).toEqual([sbom])
    await expectSbomTag(both.port)
    expect(await published(both.site)).toEqual(await published(live.site))
  })

  it('the reverse order: the SBOM first, then its subject, ends with the SBOM attached', async () => {
    const reverse = await servedBuild('reverse', ['layouts/app-sbom'])
    expect((await get(reverse.port, `/v2/app/referrers/${subject.digest}`)).status).toBe(404)
    await expectSbomTag(reverse.port)
    await cli(['add', 'layouts/app', '--site', 'reverse'])
    expect(await referrersOf(reverse.port, 'app', subject)).toEqual([sbom])
    expect(await published(reverse.site)).toEqual(await published(live.site))

    // rm of the subject's image drops it from app; the SBOM's own tag stays, and brings it back.
    await cli(['rm', 'app', '--site', 'reverse'])
    expect((await get(reverse.port, `/v2/app/referrers/${subject.digest}`)).status).toBe(404)
    await expectSbomTag(reverse.port)
    await cli(['add', 'layouts/app', '--site', 'reverse'])
    expect(await referrersOf(reverse.port, 'app', subject)).toEqual([sbom])
  })

  it('every image path that publishes the subject lists the referrer', async () => {
    await fs.writeFile(
      path.join(user, 'twice.json'),
      JSON.stringify({ host: 'localhost', images: [{ from: 'layouts/app', path: 'app' }, { from: 'layouts/app', path: 'mirror/app' }, { from: 'layouts/app-sbom', path: 'sboms/app' }] }),
    )
    const port = await freePort()
    await cli(['build', '--config', 'twice.json', '--out', 'twice', '--nginx', path.join(user, 'twice.conf'), '--listen', `127.0.0.1:${port}`])
    servers.push(await startNginx([path.join(user, 'twice.conf')], port))
    for (const repo of ['app', 'mirror/app']) expect(await referrersOf(port, repo, subject)).toEqual([sbom])
    // The SBOM's own path does not publish the subject: it lists no referrers of it.
    expect(JSON.parse((await get(port, `/v2/sboms/app/referrers/${subject.digest}`)).body).manifests).toEqual([])
  })
})

describe('a referrer whose subject is published nowhere yet', () => {
  let other: string
  let sig: Descriptor

  beforeAll(async () => {
    // An untagged referrer of app#1.0 in a layout without app, listed in index.json as oras does.
    const w = await OciLayout.create(path.join(user, 'layouts', 'app-sig'))
    sig = await sbomFor(w, subject)
    const o = await OciLayout.create(path.join(user, 'layouts', 'other'))
    await o.addToIndex(await image(o, 'arm64', 'another image'), '2.0')
    other = 'layouts/other'
  })

  it('waits in the site (not served, kept by prune) and is published once the subject is added', async () => {
    const site = await servedBuild('waiting', [other])
    const added = await cli(['add', 'layouts/app-sig', '--site', 'waiting', '--json'])
    expect(added.stderr).toMatch(new RegExp(`warning: layouts/app-sig: ${sig.digest} is a referrer of ${subject.digest}, which no image of the site publishes; it is kept \\(not served\\)`))
    expect(JSON.parse(added.stdout).pending).toEqual([{ subject: subject.digest, digest: sig.digest, artifactType: SBOM_TYPE }])
    expect((await get(site.port, `/v2/app/manifests/${sig.digest}`)).status).toBe(404)
    expect(JSON.parse(await fs.readFile(path.join(site.site, '.ocisite/site.json'), 'utf8')).pending.map((d: Descriptor) => d.digest)).toEqual([sig.digest])
    const pruned = JSON.parse((await cli(['prune', '--site', 'waiting', '--grace', '0', '--json'])).stdout)
    expect(pruned.removed).toEqual([])

    const withApp = await cli(['add', 'layouts/app', '--site', 'waiting'])
    expect(withApp.stderr).toBe('')
    expect(await referrersOf(site.port, 'app', subject)).toEqual([sig.digest])
    expect(JSON.parse(await fs.readFile(path.join(site.site, '.ocisite/site.json'), 'utf8')).pending).toBeUndefined()
    const full = await servedBuild('waiting-full', [other, 'layouts/app-sig', 'layouts/app'])
    expect(await published(site.site)).toEqual(await published(full.site))
    expect(await siteProblems(site.site)).toEqual([])
  })

  it('a build with the referrer and without its subject keeps it waiting, as add does', async () => {
    const a = await servedBuild('waiting-build', [other, 'layouts/app-sig'])
    const b = await servedBuild('waiting-add', [other])
    await cli(['add', 'layouts/app-sig', '--site', 'waiting-add'])
    expect(await published(a.site)).toEqual(await published(b.site))
  })

  it('rm of the subject\'s only tag drops the referrer it carried', async () => {
    const site = await servedBuild('carried', [other, 'layouts/app-sig', 'layouts/app'])
    expect(await referrersOf(site.port, 'app', subject)).toEqual([sig.digest])
    await cli(['rm', 'app#1.0', '--site', 'carried'])
    expect((await get(site.port, `/v2/app/referrers/${subject.digest}`)).status).toBe(404)
    expect(await fs.readFile(path.join(site.site, '.ocisite/site.json'), 'utf8')).not.toContain(sig.digest)
    const pruned = JSON.parse((await cli(['prune', '--site', 'carried', '--grace', '0', '--json'])).stdout)
    expect(pruned.removed.map((b: { digest: string }) => b.digest)).toContain(sig.digest)
  })
})

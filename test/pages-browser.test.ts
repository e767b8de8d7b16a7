// The pages in a real browser (Debian's chromium through playwright-core) as nginx, `ocisite
// serve` and a bucket behind a CDN serve them: complete lists, per-platform sizes, the filter, the
// copy button (and skopeo pulling with what it copied), no console errors, nothing fetched from
// elsewhere, axe-core, screenshots; JavaScript off. ls and inspect give the same JSON from the
// directory and from each server.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PAGE_CSP } from '../src/site/serve/routes.js'
import { artifactDir, launchChromium, seriousViolations, watch, type Browser } from './helpers/browser.js'
import { tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { serveInstalled, type InstalledServer } from './helpers/installed-server.js'
import { freePort, startNginx, stopChild, waitForPort, type RunningNginx } from './helpers/nginx.js'
import { pageLayouts, type PageLayouts } from './helpers/pages-fixtures.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'us-east-1' }
const WEBSITE = '<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IndexDocument><Suffix>index.html</Suffix></IndexDocument></WebsiteConfiguration>'

let work: string
let L: PageLayouts
let site: string
let nginx: RunningNginx
let served: InstalledServer
let s3: ChildProcess
let browser: Browser
const bases: Record<string, string> = {}

beforeAll(async () => {
  work = await tempDir()
  L = await pageLayouts(path.join(work, 'layouts'))
  site = path.join(work, 'site')
  const [port, s3port, cdnPort] = [await freePort(), await freePort(), await freePort()]
  const conf = path.join(work, 'site.conf')
  const built = await installed(['build', ...Object.values(L.dirs), '--host', 'localhost', '--out', site, '--nginx', conf, '--listen', `127.0.0.1:${port}`])
  expect(built.code, built.stderr).toBe(0)

  // The bucket: s3rver in website mode, deployed into, behind nginx as the CDN. S3 cannot send a
  // Content-Security-Policy of an object's own; the CDN sends the one deploy kept in its metadata.
  await fs.writeFile(path.join(work, 'website.xml'), WEBSITE)
  await fs.mkdir(path.join(work, 's3'))
  s3 = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/helpers/s3rver-main.ts'), path.join(work, 's3'), String(s3port), path.join(work, 'website.xml'), 'site'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  await waitForPort(s3port, 20_000)
  const deployed = await installed(['deploy', site, 's3://site', '--endpoint', `http://127.0.0.1:${s3port}`, '--path-style'], { env: creds })
  expect(deployed.code, deployed.stderr).toBe(0)
  const cdn = path.join(work, 'cdn.conf')
  await fs.writeFile(
    cdn,
    `server {
    listen 127.0.0.1:${cdnPort};
    location / {
        proxy_pass http://127.0.0.1:${s3port};
        proxy_set_header Host site.s3-website-us-east-1.amazonaws.com;
        proxy_hide_header x-amz-meta-content-security-policy;
        add_header Content-Security-Policy $upstream_http_x_amz_meta_content_security_policy always;
    }
}
`,
  )
  nginx = await startNginx([conf, cdn], [port, cdnPort])
  served = await serveInstalled(site, ['--quiet'])
  bases.nginx = `http://127.0.0.1:${port}`
  bases.serve = served.url
  bases['bucket behind a CDN'] = `http://127.0.0.1:${cdnPort}`
  browser = await launchChromium()
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await served?.stop()
  await nginx?.stop()
  if (s3) await stopChild(s3, 'SIGTERM')
  await fs.rm(work, { recursive: true, force: true })
})

/** Open `url` in a fresh tab, with what the tab does recorded. */
async function open(url: string, colorScheme: 'light' | 'dark' = 'light') {
  const page = await browser.context.newPage()
  await page.emulateMedia({ colorScheme })
  const seen = watch(page)
  const response = await page.goto(url)
  return { page, seen, response: response! }
}

/** Nothing went wrong in the tab, and it asked nothing of another origin. */
function clean(seen: { errors: string[]; requests: string[] }, base: string) {
  expect(seen.errors).toEqual([])
  expect(seen.requests.length).toBeGreaterThan(0)
  for (const url of seen.requests) expect(new URL(url).origin, url).toBe(new URL(base).origin)
}

/** The layers' sizes of each platform of multi#2.0, read from the layout (not through ocisite). */
async function platformSizes(): Promise<Record<string, string>> {
  const blob = async (d: string) => JSON.parse(await fs.readFile(path.join(L.dirs.multi!, 'blobs', 'sha256', d.slice(7)), 'utf8'))
  const out: Record<string, string> = {}
  for (const m of (await blob(L.digests['multi#2.0']!)).manifests) out[[m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/')] = String((await blob(m.digest)).layers.reduce((n: number, l: { size: number }) => n + l.size, 0))
  return out
}

describe.each(['nginx', 'serve', 'bucket behind a CDN'])('the pages served by %s, in chromium', (server) => {
  const base = () => bases[server]!

  it('the home page lists every image, served as HTML with a short cache and a same-origin CSP', async () => {
    const { page, seen, response } = await open(`${base()}/`)
    const headers = response.headers()
    expect(headers['content-type']).toBe('text/html; charset=utf-8')
    expect(headers['cache-control']).toBe('public, max-age=60')
    expect(headers['content-security-policy']).toBe(PAGE_CSP)
    expect(await page.locator('tbody tr[data-filter-item]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['app', 'multi', 'stack'])
    const shots = await artifactDir('pages')
    await page.screenshot({ path: path.join(shots, `${server.replace(/\W+/g, '-')}-home.png`), fullPage: true })
    clean(seen, base())
    await page.close()
  })

  it('a multi-platform tag shows each platform with its compressed size', async () => {
    const { page, seen } = await open(`${base()}/_/multi/`, 'dark')
    const rows = await page.locator('table.platforms tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-platform'), tr.querySelector('td[data-bytes]')!.getAttribute('data-bytes'), tr.querySelector('td[data-bytes]')!.textContent]))
    const expected = await platformSizes()
    expect(Object.fromEntries(rows.map(([p, bytes]) => [p, bytes]))).toEqual(expected)
    for (const [, , text] of rows) expect(text).toMatch(/^\d+(\.\d)? (B|KiB)$/)
    await page.screenshot({ path: path.join(await artifactDir('pages'), `${server.replace(/\W+/g, '-')}-multi-dark.png`), fullPage: true })
    clean(seen, base())
    await page.close()
  })

  it('typing in the filter narrows the list', async () => {
    const { page, seen } = await open(`${base()}/_/app/`)
    const visible = () => page.locator('li.tag:visible').evaluateAll((items) => items.map((i) => i.getAttribute('data-name')))
    expect(await visible()).toEqual(['1.10', 'latest', '1.9', '1.0'])
    await page.getByLabel('Filter tags').fill('1.1')
    expect(await visible()).toEqual(['1.10'])
    await expect(page.locator('.filter output').textContent()).resolves.toBe('1 of 4')
    await page.getByLabel('Filter tags').fill('')
    expect(await visible()).toHaveLength(4)
    await page.screenshot({ path: path.join(await artifactDir('pages'), `${server.replace(/\W+/g, '-')}-app.png`), fullPage: true })
    clean(seen, base())
    await page.close()
  })

  it('the copy button puts the exact skopeo command on the clipboard, and skopeo pulls the image with it', async () => {
    const origin = new URL(base()).origin
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin })
    const { page, seen } = await open(`${base()}/_/multi/`)
    const tag = page.locator('li.tag[data-name="2.0"]')
    await tag.locator('summary').click()
    await tag.locator('ul.commands li', { hasText: 'skopeo copy' }).getByRole('button', { name: 'Copy' }).click()
    const copied = await page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText())
    expect(copied).toBe(`skopeo copy --preserve-digests --src-tls-verify=false --all docker://${new URL(base()).host}/multi:2.0 oci:multi:2.0`)
    const dir = await tempDir('ocisite-skopeo-')
    await run('sh', ['-c', copied], { cwd: dir, timeout: 120_000 })
    const index = JSON.parse(await fs.readFile(path.join(dir, 'multi', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
    expect(index.manifests.map((m) => m.digest)).toEqual([L.digests['multi#2.0']])
    await fs.rm(dir, { recursive: true, force: true })
    clean(seen, base())
    await page.close()
  })

  it.each(['light', 'dark'] as const)('axe-core finds no serious or critical violation (%s)', async (scheme) => {
    for (const p of ['/', '/_/app/', '/_/multi/', '/_/stack/']) {
      const { page, seen } = await open(`${base()}${p}`, scheme)
      await page.locator('details.pull').evaluateAll((all) => all.forEach((d) => ((d as unknown as { open: boolean }).open = true)))
      expect(await seriousViolations(page), `${p} ${scheme}`).toEqual([])
      clean(seen, base())
      await page.close()
    }
  })
})

describe('with JavaScript off', () => {
  it('the pages still list everything, with the commands for the site host', async () => {
    const off = await launchChromium({ javaScriptEnabled: false })
    try {
      const page = await off.context.newPage()
      const seen = watch(page)
      await page.goto(`${bases.nginx}/_/app/`)
      expect(await page.locator('li.tag').evaluateAll((items) => items.map((i) => i.getAttribute('data-name')))).toEqual(['1.10', 'latest', '1.9', '1.0'])
      expect(await page.locator('input[type=search]').count()).toBe(0)
      await page.locator('li.tag').first().locator('summary').click()
      expect(await page.locator('li.tag').first().locator('code.cmd').first().innerText()).toBe('docker pull localhost/app:1.10')
      expect(await page.locator('li.tag').first().locator('code.cmd', { hasText: 'skopeo' }).innerText()).toBe('skopeo copy --preserve-digests docker://localhost/app:1.10 oci:app:1.10')
      await page.screenshot({ path: path.join(await artifactDir('pages'), 'nginx-app-no-js.png'), fullPage: true })
      clean(seen, bases.nginx!)
    } finally {
      await off.close()
    }
  })
})

describe('ls and inspect: one answer from every source', () => {
  it('gives the same JSON from the directory, nginx, serve and the bucket behind the CDN', async () => {
    const arm = JSON.parse(await fs.readFile(path.join(L.dirs.multi!, 'blobs', 'sha256', L.digests['multi#2.0']!.slice(7)), 'utf8')).manifests[1].digest as string
    const commands = (t: string) => [
      ['ls', t, '--json'],
      ['ls', t, 'app', '--json'],
      ['ls', t, 'multi', '--json'],
      ['ls', t, 'stack', '--json'],
      ['inspect', 'app#1.10', '--site', t, '--json'],
      ['inspect', 'multi#2.0', '--site', t, '--json'],
      ['inspect', `multi@${arm}`, '--site', t, '--json'],
    ]
    const answers = async (t: string) =>
      Promise.all(
        commands(t).map(async (args) => {
          const r = await installed(args)
          expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
          return JSON.parse(r.stdout) as unknown
        }),
      )
    const fromDir = await answers(site)
    expect((fromDir[1] as { tags: Array<{ signed: boolean }> }).tags[0]!.signed).toBe(true)
    for (const server of Object.keys(bases)) expect(await answers(bases[server]!), server).toEqual(fromDir)
  })
})

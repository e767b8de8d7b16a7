import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'
import Handlebars from 'handlebars'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { normalizeSiteAuth, UNAUTHORIZED_BODY, type SiteAuth } from '../src/site/serve/auth.js'
import { loadHtpasswd, verifyPassword } from '../src/site/serve/htpasswd.js'
import { nginxAuthContext, registerAuthPartial } from '../src/site/serve/nginx-auth.js'
import { ocisite } from './helpers/cli.js'
import { standardLayouts, tempDir } from './helpers/fixtures.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'

const run = promisify(execFile)

/**
 * Debian's nginx serving a real built site with the auth partial included the way the main
 * template will include it: `{{> nginx-auth server=true}}` after the server's settings and
 * `{{> nginx-auth location=true v2=this.v2}}` in each route's location. Until the coordinator
 * wires it in, the test renders both through Handlebars and places them in the generated file.
 */
async function includeAuth(conf: string, auth: SiteAuth): Promise<string> {
  const hbs = Handlebars.create()
  await registerAuthPartial(hbs)
  const render = (template: string, v2 = false) => hbs.compile(template, { noEscape: true, strict: true })({ auth: nginxAuthContext(auth, { acme: false }), v2 })
  const server = render('    {{> nginx-auth server=true}}\n')
  const location = (v2: boolean) => render('        {{> nginx-auth location=true v2=v2}}\n', v2)
  const anchor = '    recursive_error_pages on;\n'
  expect(conf).toContain(anchor)
  const withServer = conf.replace(anchor, `${anchor}\n${server}`)
  let routes = 0
  const withRoutes = withServer.replace(/( {4}# (\S+)\n {4}location ~ "[^\n]*" \{\n)/g, (block, _all, id: string) => {
    routes++
    return `${block}${location(id.startsWith('v2-'))}`
  })
  expect(routes).toBeGreaterThanOrEqual(10)
  return withRoutes
}

interface Answer {
  status: number
  headers: Array<[string, string]>
  body: string
}

async function curl(url: string, ...args: string[]): Promise<Answer> {
  const { stdout } = await run('curl', ['-sS', '-i', ...args, url], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 })
  const text = stdout.toString('latin1')
  const split = text.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n')
  return {
    status: Number(statusLine!.split(' ')[1]),
    headers: lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]),
    body: Buffer.from(text.slice(split + 4), 'latin1').toString('utf8'),
  }
}
const header = (a: Answer, name: string) => a.headers.filter(([k]) => k === name).map(([, v]) => v)
const sha256 = (text: string) => `sha256:${createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex')}`

const users = {
  apr1: { user: 'apr', password: 'apr1-Pass-from-openssl' },
  sha: { user: 'sha', password: 'sha-Pass-from-openssl' },
  bcrypt: { user: 'bcr', password: 'bcrypt-Pass-from-bcryptjs' },
  utf8: { user: 'jürgen', password: 'pässwörd-äöü' },
}

let work: string
let nginx: RunningNginx
let prefixSite: string
let wholeSite: string
let tags: Record<string, Record<string, string>>
let htpasswd: string

beforeAll(async () => {
  work = await tempDir()
  await standardLayouts(path.join(work, 'layouts'))
  const [port, wholePort] = [await freePort(), await freePort()]
  const plain = path.join(work, 'plain.conf')
  const built = await ocisite(['build', path.join(work, 'layouts'), '--host', '127.0.0.1', '--out', path.join(work, 'public'), '--nginx', plain, '--listen', `127.0.0.1:${port}`, '--json'])
  expect(built.code, built.stderr).toBe(0)
  tags = Object.fromEntries(JSON.parse(built.stdout).images.map((i: any) => [i.path, Object.fromEntries(i.tags.map((t: any) => [t.tag, t.digest]))]))

  // One user per hash kind, each made by a real tool: openssl for apr1 and {SHA}, bcryptjs for bcrypt.
  const apr1 = async (pw: string) => (await run('openssl', ['passwd', '-apr1', pw])).stdout.trim()
  const sha = (pw: string) => `{SHA}${createHash('sha1').update(pw, 'utf8').digest('base64')}`
  const { stdout: shaByOpenssl } = await run('sh', ['-c', 'printf %s "$1" | openssl dgst -sha1 -binary | base64', 'sh', users.sha.password])
  expect(sha(users.sha.password)).toBe(`{SHA}${shaByOpenssl.trim()}`)
  htpasswd = path.join(work, 'users.htpasswd')
  await fs.writeFile(
    htpasswd,
    [
      `${users.apr1.user}:${await apr1(users.apr1.password)}`,
      `${users.sha.user}:{SHA}${shaByOpenssl.trim()}`,
      `${users.bcrypt.user}:${bcrypt.hashSync(users.bcrypt.password, 6)}`,
      `${users.utf8.user}:${await apr1(users.utf8.password)}`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  )

  const text = await fs.readFile(plain, 'utf8')
  const prefixConf = path.join(work, 'prefix.conf')
  await fs.writeFile(prefixConf, await includeAuth(text, normalizeSiteAuth({ host: '127.0.0.1', authBasic: htpasswd, authPath: ['/v2/org/', '/oci-index/org'], authRealm: 'Private OCI' })!))
  const wholeConf = path.join(work, 'whole.conf')
  const wholeText = text.replaceAll(`listen 127.0.0.1:${port};`, `listen 127.0.0.1:${wholePort};`)
  await fs.writeFile(wholeConf, await includeAuth(wholeText, normalizeSiteAuth({ host: '127.0.0.1', authBasic: htpasswd })!))
  nginx = await startNginx([prefixConf, wholeConf], [port, wholePort])
  prefixSite = `http://127.0.0.1:${port}`
  wholeSite = `http://127.0.0.1:${wholePort}`
})

afterAll(async () => {
  await nginx?.stop()
  if (work) await fs.rm(work, { recursive: true, force: true })
})

const expectJson401 = (a: Answer, realm: string) => {
  expect(a.status).toBe(401)
  expect(header(a, 'www-authenticate')).toEqual([`Basic realm="${realm}"`])
  expect(header(a, 'content-type')).toEqual(['application/json'])
  expect(header(a, 'docker-distribution-api-version')).toEqual(['registry/2.0'])
  expect(header(a, 'cache-control')).toEqual(['no-store'])
  expect(a.body).toBe(UNAUTHORIZED_BODY)
  expect(JSON.parse(a.body)).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] })
}

describe('--auth-path: private /v2/org/ and /oci-index/org on Debian nginx, the rest public', () => {
  it('passes nginx -t', () => {
    expect(nginx.testOutput).toMatch(/syntax is ok/)
  })

  it.each([
    ['a tag', '/v2/org/app/manifests/v1'],
    ['a tag list', '/v2/org/app/tags/list'],
    ['the /v2/ base (registry clients ping it first to learn they need credentials)', '/v2/'],
    ['/v2 without its slash', '/v2'],
    ['the catalog (it names the private repositories)', '/v2/_catalog'],
    ['percent-encoded', '/v2/%6Frg/app/manifests/v1'],
    ['through dot segments', '/v2/app/../org/app/manifests/v1'],
    ['with doubled slashes', '/v2//org/app/manifests/v1'],
  ])('%s without credentials: 401, Basic realm, the distribution JSON error', async (_name, p) => {
    expectJson401(await curl(`${prefixSite}${p}`, '--path-as-is'), 'Private OCI')
  })

  it('HEAD without credentials: 401 with the challenge', async () => {
    const a = await curl(`${prefixSite}/v2/org/app/manifests/v1`, '-I')
    expect(a.status).toBe(401)
    expect(header(a, 'www-authenticate')).toEqual(['Basic realm="Private OCI"'])
  })

  it.each(Object.entries(users))('%s user: 200 and the manifest whose digest the tag names', async (_kind, { user, password }) => {
    const a = await curl(`${prefixSite}/v2/org/app/manifests/v1`, '-u', `${user}:${password}`)
    expect(a.status).toBe(200)
    expect(header(a, 'content-type')).toEqual(['application/vnd.oci.image.manifest.v1+json'])
    expect(sha256(Buffer.from(a.body, 'utf8').toString('latin1'))).toBe(tags['org/app']!.v1)
  })

  it.each([
    ['a wrong password', `${users.apr1.user}:wrong`],
    ['an unknown user', `mallory:${users.apr1.password}`],
    ['a right password for another user', `${users.sha.user}:${users.apr1.password}`],
  ])('%s: 401', async (_name, userpass) => {
    expectJson401(await curl(`${prefixSite}/v2/org/app/manifests/v1`, '-u', userpass), 'Private OCI')
  })

  it('with credentials, a missing manifest is still MANIFEST_UNKNOWN (the 404 answers work behind auth)', async () => {
    const a = await curl(`${prefixSite}/v2/org/app/manifests/nosuch`, '-u', `${users.bcrypt.user}:${users.bcrypt.password}`)
    expect(a.status).toBe(404)
    expect(JSON.parse(a.body).errors[0].code).toBe('MANIFEST_UNKNOWN')
  })

  it('a private blob by its /v2/ URL needs credentials', async () => {
    const manifest = JSON.parse((await curl(`${prefixSite}/v2/org/app/manifests/v1`, '-u', `${users.sha.user}:${users.sha.password}`)).body)
    const blob = `${prefixSite}/v2/org/app/blobs/${manifest.layers[0].digest}`
    expectJson401(await curl(blob), 'Private OCI')
    const a = await curl(blob, '-u', `${users.sha.user}:${users.sha.password}`)
    expect(a.status).toBe(200)
    expect(header(a, 'docker-content-digest')).toEqual([manifest.layers[0].digest])
  })

  it.each([
    ['a public tag', '/v2/app/manifests/1.0', 200],
    ['a public tag list', '/v2/app/tags/list', 200],
    ['the well-known document', '/.well-known/oci-host-ref-engines', 200],
    ['a public index', '/oci-index/app', 200],
  ])('%s needs no credentials', async (_name, p, status) => {
    const a = await curl(`${prefixSite}${p}`)
    expect(a.status).toBe(status)
    expect(header(a, 'www-authenticate')).toEqual([])
  })

  it('a private index outside /v2/: 401 as text, 200 with credentials', async () => {
    const a = await curl(`${prefixSite}/oci-index/org%2Fapp`)
    expect(a.status).toBe(401)
    expect(header(a, 'www-authenticate')).toEqual(['Basic realm="Private OCI"'])
    expect(header(a, 'content-type')).toEqual(['text/plain'])
    expect(a.body).toBe('authentication required\n')
    const ok = await curl(`${prefixSite}/oci-index/org%2Fapp`, '-u', `${users.utf8.user}:${users.utf8.password}`)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body).manifests[0].digest).toBe(tags['org/app']!.v1)
  })

  it('skopeo: refused without credentials, pulls with them (--creds), and still pulls a public tag anonymously', async () => {
    const ref = (name: string) => `docker://${prefixSite.replace('http://', '')}/${name}`
    const refused = await run('skopeo', ['inspect', '--tls-verify=false', ref('org/app:v1')]).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    )
    expect(refused).toMatch(/authentication required|unauthorized/i)
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${users.bcrypt.user}:${users.bcrypt.password}`, ref('org/app:v1')])
    expect(JSON.parse(stdout).Digest).toBe(tags['org/app']!.v1)
    const anonymous = await run('skopeo', ['inspect', '--tls-verify=false', ref('app:1.0')])
    expect(JSON.parse(anonymous.stdout).Digest).toBe(tags.app!['1.0'])
  })
})

describe('--auth-basic alone: the whole site', () => {
  it('a path no route serves is 404 before any check (the catch-all serves nothing)', async () => {
    const a = await curl(`${wholeSite}/nothing`)
    expect(a.status).toBe(404)
    expect(a.body).toBe('not found\n')
  })

  it.each([
    ['the well-known document (text)', '/.well-known/oci-host-ref-engines', 'text/plain'],
    ['an index (text)', '/oci-index/app', 'text/plain'],
    ['the /v2/ base (JSON)', '/v2/', 'application/json'],
    ['a public-looking tag (JSON)', '/v2/app/manifests/1.0', 'application/json'],
  ])('%s without credentials: 401', async (_name, p, type) => {
    const a = await curl(`${wholeSite}${p}`)
    if (type === 'application/json') expectJson401(a, '127.0.0.1')
    else {
      expect(a.status).toBe(401)
      expect(header(a, 'www-authenticate')).toEqual(['Basic realm="127.0.0.1"'])
      expect(header(a, 'content-type')).toEqual([type])
      expect(a.body).toBe('authentication required\n')
    }
  })

  it.each([
    ['/.well-known/oci-host-ref-engines', 200],
    ['/v2/app/manifests/1.0', 200],
    ['/nothing', 404],
  ])('%s with credentials: %s', async (p, status) => {
    expect((await curl(`${wholeSite}${p}`, '-u', `${users.apr1.user}:${users.apr1.password}`)).status).toBe(status)
  })
})

describe('the preview server reads the same file as nginx', () => {
  it.each(Object.entries(users))('%s: serve-auth accepts what nginx accepts', async (_kind, { user, password }) => {
    const entries = await loadHtpasswd(htpasswd)
    expect(await verifyPassword(password, entries.get(user)!)).toBe(true)
    expect(await verifyPassword(`${password}x`, entries.get(user)!)).toBe(false)
  })
})

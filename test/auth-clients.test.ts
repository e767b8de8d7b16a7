// Issue 27, acceptance 1, 3 and 4: real registry clients and the installed ocisite pull a private
// tag from Debian's nginx running the generated config with auth_basic on; without credentials
// each is refused. A blob redirected to another port never carries the Authorization header.
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startContainerd, ctrDigest } from './helpers/clients.js'
import { tempDir } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { serveInstalled } from './helpers/installed-server.js'
import { PASSWORD, SECRET_FORMS, startPrivateSites, USER, type PrivateSites } from './helpers/private-site.js'

const exec = promisify(execFile)

/** A client run that may fail: its exit status and what it printed. */
async function tool(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` })
    })
    child.stdin?.end(input ?? '')
  })
}

let sites: PrivateSites
let scratch: string
/** No machine-wide credentials: every client reads only the files the test gives it. */
let noCredentials: NodeJS.ProcessEnv

beforeAll(async () => {
  sites = await startPrivateSites()
  scratch = await tempDir('ocisite-auth-clients-')
  const home = path.join(scratch, 'empty-home')
  await fs.mkdir(home)
  await fs.writeFile(path.join(scratch, 'none.json'), '{"auths":{}}\n')
  noCredentials = { HOME: home, REGISTRY_AUTH_FILE: path.join(scratch, 'none.json'), XDG_RUNTIME_DIR: path.join(home, 'run'), DOCKER_CONFIG: path.join(home, '.docker') }
})

afterAll(async () => {
  await sites?.stop()
  if (scratch) await fs.rm(scratch, { recursive: true, force: true })
})

const registry = () => `127.0.0.1:${sites.ports.prefix}`
const privateRef = () => `${registry()}/org/app:v1`

describe('real clients pull a private tag with credentials, and are refused without', () => {
  it('skopeo --src-creds', async () => {
    const dest = path.join(scratch, 'skopeo')
    const args = (creds: string[]) => ['copy', '--preserve-digests', '--src-tls-verify=false', ...creds, `docker://${privateRef()}`, `oci:${dest}:v1`]
    const refused = await tool('skopeo', args([]), noCredentials)
    expect(refused.code).not.toBe(0)
    expect(refused.out).toMatch(/unauthorized|authentication required/i)
    const ok = await tool('skopeo', args(['--src-creds', `${USER}:${PASSWORD}`]), noCredentials)
    expect(ok.code, ok.out).toBe(0)
    const index = JSON.parse(await fs.readFile(path.join(dest, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(sites.tags['org/app']!.v1)
  })

  it('podman login, then pull (vfs storage, its own root and auth file)', async () => {
    const dir = path.join(scratch, 'podman')
    const env = { ...noCredentials, REGISTRY_AUTH_FILE: path.join(dir, 'auth.json') }
    await fs.mkdir(dir)
    await fs.writeFile(env.REGISTRY_AUTH_FILE, '{"auths":{}}\n')
    const podman = (...args: string[]) => ['--storage-driver', 'vfs', '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...args]
    const refused = await tool('podman', podman('pull', '--tls-verify=false', privateRef()), env)
    expect(refused.code).not.toBe(0)
    expect(refused.out).toMatch(/unauthorized|authentication required/i)
    const login = await tool('podman', podman('login', '--tls-verify=false', '--username', USER, '--password-stdin', registry()), env, PASSWORD)
    expect(login.code, login.out).toBe(0)
    const pulled = await tool('podman', podman('pull', '--tls-verify=false', privateRef()), env)
    expect(pulled.code, pulled.out).toBe(0)
    const { stdout } = await exec('podman', podman('image', 'inspect', '--format', '{{.Digest}}', privateRef()), { env: { ...process.env, ...env } })
    expect(stdout.trim()).toBe(sites.tags['org/app']!.v1)
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('ctr --user (containerd on its own socket and root)', async () => {
    const containerd = await startContainerd()
    try {
      await expect(containerd.ctr('images', 'pull', '--plain-http', privateRef())).rejects.toThrow(/401|unauthorized/i)
      await containerd.ctr('images', 'pull', '--plain-http', '--user', `${USER}:${PASSWORD}`, privateRef())
      expect(await ctrDigest(containerd.ctr, privateRef())).toBe(sites.tags['org/app']!.v1)
    } finally {
      await containerd.stop()
    }
  })

  it("ocisite, reading docker's auth file; without it, exit 7 naming the host", async () => {
    const home = path.join(scratch, 'docker-home')
    await fs.mkdir(path.join(home, '.docker'), { recursive: true })
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64')
    await fs.writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [registry()]: { auth } } }))
    const args = (dest: string) => ['pull', '127.0.0.1/org/app#v1', dest, '--protocol', 'http', '--port', String(sites.ports.prefix)]
    const cwd = await outsideDir()
    const refused = await installed(args('refused'), { cwd, env: noCredentials })
    expect(refused.code).toBe(7)
    expect(refused.stderr).toBe(`ocisite: error[AUTH_FAILED]: ${registry()} asks for a username and password (realm "127.0.0.1") and none were found: use --user with --password-stdin, OCISITE_USERNAME and OCISITE_PASSWORD, podman login or docker login, or ~/.netrc\n`)
    await expect(fs.stat(path.join(cwd, 'refused', 'index.json'))).rejects.toThrow(/ENOENT/)
    const ok = await installed(args('app'), { cwd, env: { ...noCredentials, HOME: home, DOCKER_CONFIG: '' } })
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain(`127.0.0.1/org/app#v1 → ${sites.tags['org/app']!.v1}`)
  })
})

describe('public discovery, private /v2/ and indexes (--auth-path)', () => {
  const client = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) =>
    installed([...args, '--protocol', 'http', '--port', String(sites.ports.prefix)], { env: { ...noCredentials, ...env }, ...(input ? { input } : {}) })

  it('the discovery document and a public tag need no credentials', async () => {
    const res = await fetch(`http://${registry()}/.well-known/oci-host-ref-engines`)
    expect(res.status).toBe(200)
    const resolved = await client(['resolve', '127.0.0.1/app#1.0', '--json'])
    expect(resolved.code, resolved.stderr).toBe(0)
    expect(JSON.parse(resolved.stdout)['127.0.0.1/app#1.0'][0].descriptor.digest).toBe(sites.tags.app!['1.0'])
  })

  it('a private tag: exit 7 without credentials, resolved and pulled with them', async () => {
    const refused = await client(['resolve', '127.0.0.1/org/app#v1'])
    expect(refused.code).toBe(7)
    expect(refused.stderr).toMatch(/^ocisite: error\[AUTH_FAILED\]: 127\.0\.0\.1:\d+ asks for a username and password/)
    const resolved = await client(['resolve', '127.0.0.1/org/app#v1', '--json', '--user', USER, '--password-stdin'], {}, PASSWORD)
    expect(resolved.code, resolved.stderr).toBe(0)
    expect(JSON.parse(resolved.stdout)['127.0.0.1/org/app#v1'][0].descriptor.digest).toBe(sites.tags['org/app']!.v1)
    const pulled = await client(['pull', '127.0.0.1/org/app#v1', path.join(scratch, 'prefix-pull'), '--user', USER, '--password-stdin'], {}, PASSWORD)
    expect(pulled.code, pulled.stderr).toBe(0)
  })
})

describe('no leak on redirect', () => {
  it('a blob redirected to another port never receives the Authorization header (its access log)', async () => {
    const dest = path.join(scratch, 'redirected')
    const args = ['pull', '127.0.0.1/app#1.0', dest, '--protocol', 'http', '--port', String(sites.ports.front), '--user', USER, '--password-stdin']
    const pulled = await installed(args, { env: noCredentials, input: PASSWORD })
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(pulled.stdout).toContain(sites.tags.app!['1.0'])
    const lines = (await fs.readFile(sites.cdnLog, 'utf8')).trim().split('\n')
    // Every blob came through the redirect, and none of those requests carried credentials.
    expect(lines.filter((l) => l.startsWith('/oci-cas/')).length).toBeGreaterThanOrEqual(3)
    for (const line of lines) expect(line).toMatch(/ authorization="-"$/)
    const log = await fs.readFile(sites.cdnLog, 'utf8')
    for (const secret of SECRET_FORMS) expect(log).not.toContain(secret)
  })
})

describe('the same options elsewhere: ocisite.json and ocisite serve', () => {
  it('nginx.authBasic and nginx.authPath in ocisite.json write the same config as the flags', async () => {
    const cwd = path.join(scratch, 'config-file')
    await fs.mkdir(cwd)
    const nginx = { file: 'site.conf', root: path.join(sites.work, 'public'), listen: `127.0.0.1:${sites.ports.prefix}`, authBasic: path.join(sites.work, 'users.htpasswd'), authPath: ['/v2/org/', '/oci-index/org'] }
    await fs.writeFile(path.join(cwd, 'ocisite.json'), JSON.stringify({ host: '127.0.0.1', out: 'public', inputs: [path.join(sites.work, 'layouts')], nginx }))
    const built = await installed(['build'], { cwd })
    expect(built.code, built.stderr).toBe(0)
    expect(await fs.readFile(path.join(cwd, 'site.conf'), 'utf8')).toBe(await fs.readFile(path.join(sites.work, 'prefix.conf'), 'utf8'))
  })

  it('ocisite serve --auth-basic --auth-path: 401 with the challenge and the JSON error, and pulls with credentials', async () => {
    const server = await serveInstalled(path.join(sites.work, 'public'), ['--auth-basic', path.join(sites.work, 'users.htpasswd'), '--auth-path', '/v2/org/', '--auth-path', '/oci-index/org', '--auth-realm', 'preview'])
    try {
      const refused = await fetch(`${server.url}/v2/org/app/manifests/v1`)
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Basic realm="preview"')
      expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNAUTHORIZED')
      expect((await fetch(`${server.url}/.well-known/oci-host-ref-engines`)).status).toBe(200)
      const name = ['127.0.0.1/org/app#v1', '--protocol', 'http', '--port', String(server.port)]
      expect((await installed(['resolve', ...name], { env: noCredentials })).code).toBe(7)
      const pulled = await installed(['pull', ...name.slice(0, 1), path.join(scratch, 'served'), ...name.slice(1), '--user', USER, '--password-stdin'], { env: noCredentials, input: PASSWORD })
      expect(pulled.code, pulled.stderr).toBe(0)
      expect(server.stdout()).toMatch(/GET \/oci-index\/org%2Fapp 401 /)
    } finally {
      await server.stop()
    }
  })
})

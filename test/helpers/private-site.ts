// Private sites for the authentication suites: one site built by the installed CLI with
// `--auth-basic`, served by Debian's nginx with the generated configs dropped unchanged into
// conf.d/. Four servers on loopback:
//   prefix  --auth-path /v2/org/ --auth-path /oci-index/org: public discovery, private org/app
//   whole   --auth-basic alone: every path needs credentials
//   front   a hand-written server that proxies to `whole`, except blob URLs, which it redirects
//   cdn     another port serving the same files, logging each request's Authorization header
import { promises as fs } from 'node:fs'
import path from 'node:path'
import bcrypt from 'bcryptjs'
import { expect } from 'vitest'
import { standardLayouts, tempDir } from './fixtures.js'
import { installed } from './installed.js'
import { freePort, startNginx, type RunningNginx } from './nginx.js'

export const USER = 'alice'
/** Unusual enough that finding it anywhere is a leak, never a coincidence. */
export const PASSWORD = 'Pw-i27-q8Zr!xT4@vault'
/** What a leak could look like besides the password itself: the Basic token and the auth files' `auth`. */
export const SECRET_FORMS = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), encodeURIComponent(PASSWORD)]

export interface PrivateSites {
  work: string
  /** Digests by image path and tag, as build --json reported them. */
  tags: Record<string, Record<string, string>>
  ports: { prefix: number; whole: number; front: number; cdn: number }
  nginx: RunningNginx
  /** The cdn server's access log: `URI authorization="…"` per request. */
  cdnLog: string
  stop(): Promise<void>
}

async function build(work: string, conf: string, port: number, auth: string[]): Promise<Record<string, Record<string, string>>> {
  const args = ['build', path.join(work, 'layouts'), '--host', '127.0.0.1', '--out', path.join(work, 'public'), '--nginx', conf, '--listen', `127.0.0.1:${port}`, '--json']
  const built = await installed([...args, '--auth-basic', path.join(work, 'users.htpasswd'), ...auth])
  expect(built.code, built.stderr).toBe(0)
  const images = JSON.parse(built.stdout).images as Array<{ path: string; tags: Array<{ tag: string; digest: string }> }>
  return Object.fromEntries(images.map((i) => [i.path, Object.fromEntries(i.tags.map((t) => [t.tag, t.digest]))]))
}

export async function startPrivateSites(): Promise<PrivateSites> {
  const work = await tempDir('ocisite-auth-')
  await standardLayouts(path.join(work, 'layouts'))
  await fs.writeFile(path.join(work, 'users.htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 8)}\n`, { mode: 0o644 })
  const ports = { prefix: await freePort(), whole: await freePort(), front: await freePort(), cdn: await freePort() }
  const confs = { prefix: path.join(work, 'prefix.conf'), whole: path.join(work, 'whole.conf'), front: path.join(work, 'front.conf'), cdn: path.join(work, 'cdn.conf') }
  const tags = await build(work, confs.prefix, ports.prefix, ['--auth-path', '/v2/org/', '--auth-path', '/oci-index/org'])
  await build(work, confs.whole, ports.whole, [])
  await fs.writeFile(
    confs.front,
    `server {
    listen 127.0.0.1:${ports.front};
    location ^~ /oci-cas/ { return 302 http://127.0.0.1:${ports.cdn}$request_uri; }
    location / { proxy_pass http://127.0.0.1:${ports.whole}; }
}
`,
  )
  await fs.writeFile(
    confs.cdn,
    `log_format ocisite_cdn '$request_uri authorization="$http_authorization"';
server {
    listen 127.0.0.1:${ports.cdn};
    root ${path.join(work, 'public')};
    access_log /var/log/nginx/cdn-access.log ocisite_cdn;
    location / { try_files $uri =404; }
}
`,
  )
  const nginx = await startNginx([confs.prefix, confs.whole, confs.front, confs.cdn], Object.values(ports))
  return {
    work,
    tags,
    ports,
    nginx,
    cdnLog: path.join(path.dirname(nginx.accessLog), 'cdn-access.log'),
    stop: async () => {
      await nginx.stop()
      await fs.rm(work, { recursive: true, force: true })
    },
  }
}

/** Every file under `dir` whose bytes hold one of the secret forms. */
export async function filesHoldingSecrets(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const file = path.join(e.parentPath, e.name)
    const text = (await fs.readFile(file)).toString('latin1')
    if (SECRET_FORMS.some((s) => text.includes(s))) found.push(file)
  }
  return found
}

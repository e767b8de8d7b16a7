// What a new user of the client commands trips over, through ocisite as installed from its npm
// tarball and run outside the checkout, against Debian's nginx: a lock file that keeps its other
// pins, pull into a file or a foreign directory, TLS with a self-signed CA (--cacert, --insecure,
// NODE_EXTRA_CA_CERTS), a plain-HTTP server reached over https, and curl's --resolve form.
import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout } from '../src/content/layout/oci-layout.js'
import { image, tempDir } from './helpers/fixtures.js'
import { installed, outsideDir } from './helpers/installed.js'
import { freePort, startNginx, type RunningNginx } from './helpers/nginx.js'
import { snapshot } from './helpers/tree.js'

let work: string
let nginx: RunningNginx
/** Ports: the plain site (localhost), the TLS site (localhost), the same site as site.example. */
const port = { plain: 0, tls: 0, redirect: 0, named: 0 }
let certs: { ca: string; otherCa: string; notPem: string }
let user: string

const plain = () => ['--protocol', 'http', '--port', String(port.plain)]
const overTls = () => ['--port', String(port.tls)]
const oneLine = (stderr: string) => expect(stderr.trim().split('\n'), stderr).toHaveLength(1)

/** A CA, and a server certificate it signs for localhost, 127.0.0.1 and secure.example. */
function makeCerts(dir: string): { ca: string; otherCa: string; cert: string; key: string } {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  for (const name of ['ca', 'other-ca']) {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=ocisite test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  }
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,DNS:secure.example,IP:127.0.0.1\\n" > san.ext'], { cwd: dir })
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext')
  const at = (f: string) => path.join(dir, f)
  return { ca: at('ca.pem'), otherCa: at('other-ca.pem'), cert: at('server.pem'), key: at('server.key') }
}

/** A layout per image: app (1.0, 2.0), db (5.7, 8.0), cache (7). */
async function layouts(root: string): Promise<void> {
  for (const [name, tags] of [['app', ['1.0', '2.0']], ['db', ['5.7', '8.0']], ['cache', ['7']]] as const) {
    const w = await OciLayout.create(path.join(root, name))
    for (const tag of tags) await w.addToIndex(await image(w, 'amd64', `${name} ${tag}`), tag)
  }
}

async function build(args: string[]): Promise<void> {
  const r = await installed(['build', path.join(work, 'layouts'), ...args])
  expect(r.code, r.stderr).toBe(0)
}

beforeAll(async () => {
  work = await tempDir()
  user = await outsideDir()
  await layouts(path.join(work, 'layouts'))
  const tls = makeCerts(await tempDir('ocisite-certs-'))
  await fs.writeFile(path.join(work, 'not-a-cert.pem'), 'hello\n')
  certs = { ca: tls.ca, otherCa: tls.otherCa, notPem: path.join(work, 'not-a-cert.pem') }
  for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort()
  const conf = (n: string) => path.join(work, `${n}.conf`)
  await build(['--host', 'localhost', '--out', path.join(work, 'plain'), '--nginx', conf('plain'), '--listen', `127.0.0.1:${port.plain}`])
  await build(['--host', 'localhost', '--out', path.join(work, 'tls'), '--nginx', conf('tls'), '--listen', `127.0.0.1:${port.tls}`, '--http-listen', `127.0.0.1:${port.redirect}`, '--tls-cert', tls.cert, '--tls-key', tls.key])
  await build(['--host', 'site.example', '--out', path.join(work, 'named'), '--nginx', conf('named'), '--listen', `127.0.0.1:${port.named}`])
  nginx = await startNginx(['plain', 'tls', 'named'].map(conf), Object.values(port))
}, 600_000)
afterAll(async () => {
  await nginx?.stop()
  await fs.rm(work, { recursive: true, force: true })
})

describe('lock keeps the pins it is not asked about', () => {
  const pinsOf = async (file: string) => (JSON.parse(await fs.readFile(file, 'utf8')) as { pins: Array<{ name: string; digest: string }> }).pins

  it('adds a name to a lock file of three, updates a moved tag, keeps the rest; --prune drops what is not named', async () => {
    const dir = await outsideDir()
    const first = await installed(['lock', 'localhost/app#*', 'localhost/cache#7', ...plain()], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    expect((await pinsOf(path.join(dir, 'ocisite.lock'))).map((p) => p.name)).toEqual(['localhost/app#1.0', 'localhost/app#2.0', 'localhost/cache#7'])
    const inode = (await fs.stat(path.join(dir, 'ocisite.lock'))).ino

    const db = await installed(['lock', 'localhost/db#5.7', ...plain()], { cwd: dir })
    expect(db.code, db.stderr).toBe(0)
    expect(db.stdout).toMatch(/^localhost\/db#5\.7 → sha256:[0-9a-f]{64} {2}added$/m)
    expect(db.stdout).toMatch(/^localhost\/app#1\.0 → sha256:[0-9a-f]{64} {2}kept$/m)
    expect(db.stdout).toMatch(/^4 pins in ocisite\.lock: 1 added, 0 updated, 0 unchanged, 3 kept$/m)
    const four = await pinsOf(path.join(dir, 'ocisite.lock'))
    expect(four.map((p) => p.name)).toEqual(['localhost/app#1.0', 'localhost/app#2.0', 'localhost/cache#7', 'localhost/db#5.7'])
    // Replaced by a rename (a new inode), with no temporary file left beside it.
    expect((await fs.stat(path.join(dir, 'ocisite.lock'))).ino).not.toBe(inode)
    expect(await fs.readdir(dir)).toEqual(['ocisite.lock'])

    // Move db#5.7 on the live site: locking it again updates that pin alone.
    const moved = await OciLayout.create(path.join(work, 'moved', 'db'))
    await moved.addToIndex(await image(moved, 'amd64', 'db 5.7, rebuilt'), '5.7')
    const added = await installed(['add', path.join(work, 'moved', 'db'), '--path', 'db', '--site', path.join(work, 'plain'), '--force'])
    expect(added.code, added.stderr).toBe(0)
    const update = await installed(['lock', 'localhost/db#5.7', ...plain()], { cwd: dir })
    const old = four.find((p) => p.name === 'localhost/db#5.7')!.digest
    expect(update.stdout).toMatch(new RegExp(`^localhost/db#5\\.7 → sha256:[0-9a-f]{64} {2}updated \\(was ${old}\\)$`, 'm'))
    expect(update.stdout).toContain('4 pins in ocisite.lock: 0 added, 1 updated, 0 unchanged, 3 kept')
    const after = await pinsOf(path.join(dir, 'ocisite.lock'))
    expect(after.filter((p) => p.name !== 'localhost/db#5.7')).toEqual(four.filter((p) => p.name !== 'localhost/db#5.7'))
    expect(after.find((p) => p.name === 'localhost/db#5.7')!.digest).not.toBe(old)

    // The same run again changes nothing, not even the file.
    const bytes = await fs.readFile(path.join(dir, 'ocisite.lock'))
    const again = await installed(['lock', 'localhost/db#5.7', ...plain()], { cwd: dir })
    expect(again.stdout).toContain('4 pins in ocisite.lock (file unchanged): 0 added, 0 updated, 1 unchanged, 3 kept')
    expect(await fs.readFile(path.join(dir, 'ocisite.lock'))).toEqual(bytes)

    const pruned = await installed(['lock', 'localhost/db#5.7', 'localhost/cache#7', '--prune', ...plain()], { cwd: dir })
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(pruned.stdout).toMatch(/^localhost\/app#2\.0 {2}dropped$/m)
    expect((await pinsOf(path.join(dir, 'ocisite.lock'))).map((p) => p.name)).toEqual(['localhost/cache#7', 'localhost/db#5.7'])
  })

  it('the hint for a name that is not pinned adds it and keeps the others', async () => {
    const dir = await outsideDir()
    expect((await installed(['lock', 'localhost/app#1.0', 'localhost/app#2.0', ...plain(), '--out', 'pins.lock'], { cwd: dir })).code).toBe(0)
    const cache = { XDG_CACHE_HOME: path.join(dir, '.cache') }
    const miss = await installed(['get', 'localhost/db#8.0', 'db', '--lock', 'pins.lock', ...plain()], { cwd: dir, env: cache })
    expect(miss.code).toBe(3)
    oneLine(miss.stderr)
    const hint = /add it with: (ocisite lock .*)$/m.exec(miss.stderr)![1]!.split(' ')
    expect(hint).toEqual(['ocisite', 'lock', 'localhost/db#8.0', '--out', 'pins.lock'])
    expect((await installed([...hint.slice(1), ...plain()], { cwd: dir })).code).toBe(0)
    expect((await pinsOf(path.join(dir, 'pins.lock'))).map((p) => p.name)).toEqual(['localhost/app#1.0', 'localhost/app#2.0', 'localhost/db#8.0'])
    const got = await installed(['get', 'localhost/db#8.0', 'db', '--lock', 'pins.lock', ...plain()], { cwd: dir, env: cache })
    expect(got.code, got.stderr).toBe(0)
    expect(await fs.readFile(path.join(dir, 'db', 'etc', 'greeting'), 'utf8')).toBe('db 8.0')
  })

  it('a lock file reached through a symlink is updated where it lives', async () => {
    const dir = await outsideDir()
    await fs.mkdir(path.join(dir, 'shared'))
    expect((await installed(['lock', 'localhost/app#1.0', ...plain(), '--out', 'shared/real.lock'], { cwd: dir })).code).toBe(0)
    await fs.symlink('shared/real.lock', path.join(dir, 'ocisite.lock'))
    expect((await installed(['lock', 'localhost/cache#7', ...plain()], { cwd: dir })).code).toBe(0)
    expect(await fs.readlink(path.join(dir, 'ocisite.lock'))).toBe('shared/real.lock')
    expect((await pinsOf(path.join(dir, 'shared', 'real.lock'))).map((p) => p.name)).toEqual(['localhost/app#1.0', 'localhost/cache#7'])
  })

  it.each([
    ['not JSON', 'garbage\n', 'invalid JSON'],
    ['another tool\'s JSON', '{"dependencies":{}}\n', 'not an ocisite lock file ("lockVersion" is missing, not 1)'],
    ['a newer version', '{"lockVersion":2,"pins":[]}\n', 'not an ocisite lock file ("lockVersion" is 2, not 1)'],
    ['a pin with a bad digest', '{"lockVersion":1,"pins":[{"name":"localhost/app#1.0","digest":"sha256:00","mediaType":"x","size":1}]}\n', 'pins[0]'],
    ['a pin with a field lock would drop', '{"lockVersion":1,"pins":[{"name":"localhost/app#1.0","digest":"sha256:' + '0'.repeat(64) + '","mediaType":"x","size":1,"note":"mine"}]}\n', 'unknown field "note"'],
    ['a pin without a tag', '{"lockVersion":1,"pins":[{"name":"localhost/app","digest":"sha256:' + '0'.repeat(64) + '","mediaType":"x","size":1}]}\n', 'is not a name of the form host/path#tag'],
  ])('%s in the lock file is refused, naming the file, and left as it was', async (_, content, words) => {
    const dir = await outsideDir()
    await fs.writeFile(path.join(dir, 'ocisite.lock'), content)
    const r = await installed(['lock', 'localhost/db#5.7', ...plain()], { cwd: dir })
    expect(r.code).toBe(2)
    oneLine(r.stderr)
    expect(r.stderr).toContain(path.join(await fs.realpath(dir), 'ocisite.lock'))
    expect(r.stderr).toContain(words)
    expect(await fs.readFile(path.join(dir, 'ocisite.lock'), 'utf8')).toBe(content)
    expect(await fs.readdir(dir)).toEqual(['ocisite.lock'])
  })
})

describe('pull refuses a DEST that is not a layout', () => {
  const requests = async () => (await fs.readFile(nginx.accessLog, 'utf8').catch(() => '')).split('\n').length

  it.each([
    ['a regular file', async (d: string) => fs.writeFile(path.join(d, 'dest'), 'my notes\n'), 'DEST dest: exists and is not a directory'],
    ['a path through a file', async (d: string) => fs.writeFile(path.join(d, 'dest'), 'my notes\n'), 'DEST dest/sub: a part of the path is a file', 'dest/sub'],
    ['a non-empty directory that is not a layout', async (d: string) => fs.mkdir(path.join(d, 'dest')).then(() => fs.writeFile(path.join(d, 'dest', 'photo.jpg'), 'jpeg')), 'is not empty and is not an OCI layout (no oci-layout file); pass --force'],
  ])('%s: exit 2, one line, nothing written, no request made', async (_, make, words, dest = 'dest') => {
    const dir = await outsideDir()
    await make(dir)
    const before = await snapshot(dir)
    const seen = await requests()
    const r = await installed(['pull', 'localhost/app#1.0', dest, ...plain()], { cwd: dir })
    expect(r.code).toBe(2)
    oneLine(r.stderr)
    expect(r.stderr).toContain(words)
    expect(r.stderr).not.toContain('internal error')
    expect(await snapshot(dir)).toEqual(before)
    expect(await requests()).toBe(seen)
  })

  it('--force writes the layout into the directory and leaves its files; an existing layout is merged into; an empty directory is fine', async () => {
    const dir = await outsideDir()
    await fs.mkdir(path.join(dir, 'dest'))
    await fs.writeFile(path.join(dir, 'dest', 'photo.jpg'), 'jpeg')
    const forced = await installed(['pull', 'localhost/app#1.0', 'dest', '--force', ...plain()], { cwd: dir })
    expect(forced.code, forced.stderr).toBe(0)
    expect(await fs.readFile(path.join(dir, 'dest', 'photo.jpg'), 'utf8')).toBe('jpeg')
    const merged = await installed(['pull', 'localhost/app#2.0', 'dest', ...plain()], { cwd: dir })
    expect(merged.code, merged.stderr).toBe(0)
    const index = JSON.parse(await fs.readFile(path.join(dir, 'dest', 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> }
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['1.0', '2.0'])
    await fs.mkdir(path.join(dir, 'empty'))
    expect((await installed(['pull', 'localhost/db#5.7', 'empty', ...plain()], { cwd: dir })).code).toBe(0)
    expect(execFileSync('skopeo', ['inspect', `oci:${path.join(dir, 'empty')}:5.7`], { encoding: 'utf8' })).toContain('"Digest"')
  })
})

describe('TLS with a CA of its own, and plain HTTP', () => {
  it.each([
    ['resolve', ['resolve', 'localhost/app#1.0', '--json']],
    ['pull', ['pull', 'localhost/app#1.0', 'layout']],
    ['get', ['get', 'localhost/app#1.0', 'files']],
    ['lock', ['lock', 'localhost/app#1.0']],
    ['pack --subject', ['pack', 'notes.txt', '--out', 'sbom', '--tag', 'sbom', '--subject', 'localhost/app#1.0']],
  ])('%s: refused without the CA (exit 4, one line naming --cacert); works with --cacert, --insecure (warning), or NODE_EXTRA_CA_CERTS', async (_, args) => {
    const run = async (extra: string[], env: Record<string, string> = {}) => {
      const dir = await outsideDir()
      await fs.writeFile(path.join(dir, 'notes.txt'), 'notes\n')
      return installed([...args, ...overTls(), ...extra], { cwd: dir, env: { XDG_CACHE_HOME: path.join(dir, '.cache'), ...env } })
    }
    const refused = await run([])
    expect(refused.code).toBe(4)
    oneLine(refused.stderr)
    expect(refused.stderr).toContain('TLS certificate not trusted')
    expect(refused.stderr).toContain('--cacert FILE')
    // Another CA does not make it trusted.
    expect((await run(['--cacert', certs.otherCa])).code).toBe(4)
    const withCa = await run(['--cacert', certs.ca])
    expect(withCa.code, withCa.stderr).toBe(0)
    expect(withCa.stderr).toBe('')
    const insecure = await run(['--insecure'])
    expect(insecure.code, insecure.stderr).toBe(0)
    expect(insecure.stderr).toMatch(/^ocisite: warning: --insecure: TLS certificates are not checked/)
    oneLine(insecure.stderr)
    const env = await run([], { NODE_EXTRA_CA_CERTS: certs.ca })
    expect(env.code, env.stderr).toBe(0)
    // --cacert adds to the default trust: NODE_EXTRA_CA_CERTS still counts beside it.
    const both = await run(['--cacert', certs.otherCa], { NODE_EXTRA_CA_CERTS: certs.ca })
    expect(both.code, both.stderr).toBe(0)
  })

  it('verify a TLS site: --cacert, and a name the certificate carries reached through --resolve', async () => {
    const refused = await installed(['verify', `https://localhost:${port.tls}`])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('TLS certificate not trusted')
    const ok = await installed(['verify', `https://localhost:${port.tls}`, '--cacert', certs.ca])
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^ok: https:\/\/localhost:\d+: 3 images, 5 tags/)
    const named = await installed(['verify', `https://secure.example:${port.tls}`, '--resolve', `secure.example:${port.tls}:127.0.0.1`, '--cacert', certs.ca])
    expect(named.code, named.stdout + named.stderr).toBe(0)
    // The certificate is checked against the name in the URL, not the address connected to.
    const wrongName = await installed(['verify', `https://other.example:${port.tls}`, '--resolve', `other.example:${port.tls}:127.0.0.1`, '--cacert', certs.ca])
    expect(wrongName.code).toBe(4)
    expect(wrongName.stderr).toContain('TLS certificate refused')
  })

  it.each([
    ['resolve', ['resolve', 'localhost/app#1.0', '--port', 'PLAIN'], 'the server speaks plain HTTP, not HTTPS (use --protocol http)'],
    ['pull', ['pull', 'localhost/app#1.0', 'layout', '--port', 'PLAIN'], 'the server speaks plain HTTP, not HTTPS (use --protocol http)'],
    ['verify', ['verify', 'https://127.0.0.1:PLAIN'], 'the server speaks plain HTTP, not HTTPS (verify http://127.0.0.1:PLAIN instead)'],
  ])('%s over https to a plain-HTTP nginx says so in words, exit 4', async (_, args, words) => {
    const r = await installed(args.map((a) => a.replace('PLAIN', String(port.plain))))
    expect(r.code).toBe(4)
    oneLine(r.stderr)
    expect(r.stderr).toContain(words.replace('PLAIN', String(port.plain)))
    expect(r.stderr).not.toMatch(/EPROTO|wrong version number|ssl3_get_record/)
  })

  it('plain HTTP to the TLS port: says the server speaks HTTPS there, exit 4', async () => {
    const r = await installed(['resolve', 'localhost/app#1.0', '--protocol', 'http', '--port', String(port.tls)])
    expect(r.code).toBe(4)
    oneLine(r.stderr)
    expect(r.stderr).toContain('HTTP 400: the server speaks HTTPS on this port, not plain HTTP (use --protocol https)')
  })

  it.each([
    ['a missing file', ['--cacert', 'nowhere.pem'], '--cacert nowhere.pem: no such file'],
    ['a file that holds no certificate', ['--cacert', 'NOTPEM'], 'no PEM certificate in it'],
  ])('--cacert naming %s: exit 2, one line', async (_, flags, words) => {
    const r = await installed(['resolve', 'localhost/app#1.0', ...overTls(), ...flags.map((f) => (f === 'NOTPEM' ? certs.notPem : f))], { cwd: user })
    expect(r.code).toBe(2)
    oneLine(r.stderr)
    expect(r.stderr).toContain(words)
  })
})

describe('--resolve HOST:PORT:ADDRESS, as curl', () => {
  const named = () => `http://site.example:${port.named}`

  it('verify checks a site under its own host name, served on 127.0.0.1', async () => {
    const r = await installed(['verify', named(), '--resolve', `site.example:${port.named}:127.0.0.1`])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^ok: ${named().replace(/\./g, '\\.')}: 3 images, 5 tags, 5 manifests, 10 blobs; \\d+ requests; /v2/ served$`, 'm'))
    // Without the rule the name does not resolve; a rule for another port does not apply.
    expect((await installed(['verify', named()])).code).toBe(4)
    expect((await installed(['verify', named(), '--resolve', `site.example:${port.plain}:127.0.0.1`])).code).toBe(4)
  })

  it.each([
    ['HOST:PORT:ADDRESS', () => `site.example:${port.named}:127.0.0.1`],
    ['HOST:PORT:[IPv6],IPv4', () => `site.example:${port.named}:[::1],127.0.0.1`],
    ['HOST=ADDRESS (the old form, every port)', () => 'site.example=127.0.0.1'],
  ])('resolve and pull take %s', async (_, rule) => {
    const args = ['--protocol', 'http', '--port', String(port.named), '--resolve', rule()]
    const r = await installed(['resolve', 'site.example/db#8.0', '--json', ...args])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)['site.example/db#8.0'][0].descriptor.digest).toMatch(/^sha256:/)
    const dir = await outsideDir()
    expect((await installed(['pull', 'site.example/db#8.0', 'db', ...args], { cwd: dir })).code).toBe(0)
  })

  it.each([
    ['no address', 'site.example:80:', 'use HOST:PORT:ADDRESS'],
    ['a name for an address', 'site.example:80:localhost', '"localhost" is not an IP address'],
    ['a port out of range', 'site.example:70000:127.0.0.1', 'port 70000 is not a port number'],
  ])('a rule with %s is refused: exit 2, one line', async (_, rule, words) => {
    const r = await installed(['verify', named(), '--resolve', rule])
    expect(r.code).toBe(2)
    oneLine(r.stderr)
    expect(r.stderr).toContain(`--resolve ${rule}: `)
    expect(r.stderr).toContain(words)
  })
})

import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { inspect } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { Credential } from '../../src/client/credentials/credential.js'
import { explicitCredential, readPasswordStdin } from '../../src/client/credentials/explicit.js'
import { findCredential, type CredentialQuery } from '../../src/client/credentials/find.js'
import { OcisiteError } from '../../src/errors.js'

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const auths = (entries: Record<string, string>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ auths: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { auth: b64(v) }])), ...extra })

/**
 * A real credential helper speaking the docker-credential-helpers protocol: `get` with the server
 * address on stdin (no newline), JSON on stdout; "not found" with exit status 1. It logs each
 * address it was asked for, so the tests see exactly what ocisite sent.
 */
const helperScript = `#!/bin/sh
[ "$1" = get ] || { echo "unknown action $1" >&2; exit 2; }
server=$(cat)
printf '%s\\n' "$server" >> "$HELPER_LOG"
case "$server" in
  reg.example:5000|reg.example) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-Secret-5000"}\\n' "$server" ;;
  token.example) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-token-xyz"}\\n' "$server" ;;
  broken.example) echo "the keychain is locked" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`

const scratch: string[] = []
afterAll(async () => {
  for (const dir of scratch) await fs.rm(dir, { recursive: true, force: true })
})

/** A home directory holding `files`, an environment confined to it, and the helper on PATH. */
async function world(files: Record<string, string>, env: Record<string, string> = {}) {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-creds-'))
  scratch.push(home)
  const bin = path.join(home, 'bin')
  await fs.mkdir(bin)
  await fs.writeFile(path.join(bin, 'docker-credential-ocitest'), helperScript, { mode: 0o755 })
  // A helper stuck on a prompt nobody answers.
  await fs.writeFile(path.join(bin, 'docker-credential-stuck'), '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 })
  for (const [rel, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(home, rel)), { recursive: true })
    await fs.writeFile(path.join(home, rel), text)
  }
  const log = path.join(home, 'helper.log')
  const fullEnv: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${bin}:/usr/bin:/bin`,
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    HELPER_LOG: log,
    ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replaceAll('$HOME', home)])),
  }
  const asked = async () => (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean)
  return { home, env: fullEnv, asked }
}

const site = 'https://reg.example:5000/'
const q = (url: string, extra: Partial<CredentialQuery> = {}): CredentialQuery => ({ url, site, ...extra })

interface Case {
  name: string
  files?: Record<string, string>
  env?: Record<string, string>
  query: CredentialQuery
  explicit?: [string, string]
  want: { username: string; password: string; source: string } | undefined
  /** The addresses the helper must have been asked for. */
  asked?: string[]
}

const cases: Case[] = [
  { name: '--user wins over every file', files: { '.docker/config.json': auths({ 'reg.example:5000': 'docker:docker-pass' }) }, explicit: ['alice', 'from-stdin-1'], query: q('https://reg.example:5000/v2/'), want: { username: 'alice', password: 'from-stdin-1', source: '--user' } },
  { name: '--user goes to the named site only, not another host', files: { '.docker/config.json': auths({ 'cdn.example': 'cdnuser:cdn-pass-1' }) }, explicit: ['alice', 'from-stdin-1'], query: q('https://cdn.example/blob'), want: { username: 'cdnuser', password: 'cdn-pass-1', source: '~/.docker/config.json' } },
  { name: '--user goes to the named site only, not another port', explicit: ['alice', 'from-stdin-1'], query: q('https://reg.example:5001/v2/'), want: undefined },
  { name: 'OCISITE_USERNAME/OCISITE_PASSWORD', env: { OCISITE_USERNAME: 'envuser', OCISITE_PASSWORD: 'env-pass-1' }, files: { '.netrc': 'machine reg.example login n password netrc-pass-1' }, query: q('https://reg.example:5000/v2/'), want: { username: 'envuser', password: 'env-pass-1', source: 'OCISITE_USERNAME/OCISITE_PASSWORD' } },
  { name: 'OCISITE_* not for another host', env: { OCISITE_USERNAME: 'envuser', OCISITE_PASSWORD: 'env-pass-1' }, query: q('https://evil.example/'), want: undefined },
  { name: '$REGISTRY_AUTH_FILE', env: { REGISTRY_AUTH_FILE: '$HOME/custom/auth.json' }, files: { 'custom/auth.json': auths({ 'reg.example:5000': 'podman:podman-pass-1' }), 'run/containers/auth.json': auths({ 'reg.example:5000': 'runtime:ignored-pass' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'podman', password: 'podman-pass-1', source: '$REGISTRY_AUTH_FILE (~/custom/auth.json)' } },
  { name: '$XDG_RUNTIME_DIR/containers/auth.json (podman login)', files: { 'run/containers/auth.json': auths({ 'reg.example:5000': 'podman:podman-pass-2' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'podman', password: 'podman-pass-2', source: '~/run/containers/auth.json' } },
  { name: '$XDG_CONFIG_HOME/containers/auth.json after the runtime file', files: { '.config/containers/auth.json': auths({ 'reg.example:5000': 'cfg:cfg-pass-1' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'cfg', password: 'cfg-pass-1', source: '~/.config/containers/auth.json' } },
  { name: 'containers: the most specific namespace key wins', files: { 'run/containers/auth.json': auths({ 'reg.example:5000': 'host:host-pass-1', 'reg.example:5000/private': 'ns:ns-pass-1', 'reg.example:5000/private/app': 'repo:repo-pass-1' }) }, query: q('https://reg.example:5000/v2/', { repository: 'private/app' }), want: { username: 'repo', password: 'repo-pass-1', source: '~/run/containers/auth.json' } },
  { name: 'containers: a namespace key is not used for another repository', files: { 'run/containers/auth.json': auths({ 'reg.example:5000': 'host:host-pass-1', 'reg.example:5000/private': 'ns:ns-pass-1' }) }, query: q('https://reg.example:5000/v2/', { repository: 'privateer/app' }), want: { username: 'host', password: 'host-pass-1', source: '~/run/containers/auth.json' } },
  { name: 'the containers file comes before docker', files: { 'run/containers/auth.json': auths({ 'reg.example:5000': 'podman:podman-pass-3' }), '.docker/config.json': auths({ 'reg.example:5000': 'docker:docker-pass' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'podman', password: 'podman-pass-3', source: '~/run/containers/auth.json' } },
  { name: 'docker auths: a bare host:port key', files: { '.docker/config.json': auths({ 'reg.example:5000': 'docker:docker-pass-1' }) }, query: q('https://reg.example:5000/v2/x/manifests/1'), want: { username: 'docker', password: 'docker-pass-1', source: '~/.docker/config.json' } },
  { name: 'docker auths: an https://host:port/v1/ key', files: { '.docker/config.json': auths({ 'https://reg.example:5000/v1/': 'docker:docker-pass-2' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'docker', password: 'docker-pass-2', source: '~/.docker/config.json' } },
  { name: 'docker auths: a key without a port is the default port (443 for https)', files: { '.docker/config.json': auths({ 'reg.example': 'docker:docker-pass-3' }) }, query: q('https://reg.example/v2/'), want: { username: 'docker', password: 'docker-pass-3', source: '~/.docker/config.json' } },
  { name: 'docker auths: a key without a port is not another port', files: { '.docker/config.json': auths({ 'reg.example': 'docker:docker-pass-3' }) }, query: q('https://reg.example:5000/v2/'), want: undefined },
  { name: 'docker auths: another port is another registry', files: { '.docker/config.json': auths({ 'reg.example:5001': 'docker:docker-pass-4' }) }, query: q('https://reg.example:5000/v2/'), want: undefined },
  { name: 'docker auths: a password with colons', files: { '.docker/config.json': auths({ 'reg.example:5000': 'docker:pa:ss:word' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'docker', password: 'pa:ss:word', source: '~/.docker/config.json' } },
  { name: '$DOCKER_CONFIG is honoured', env: { DOCKER_CONFIG: '$HOME/dockercfg' }, files: { 'dockercfg/config.json': auths({ 'reg.example:5000': 'docker:docker-pass-5' }), '.docker/config.json': auths({ 'reg.example:5000': 'docker:ignored-pass' }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'docker', password: 'docker-pass-5', source: '~/dockercfg/config.json' } },
  { name: 'docker credHelpers: the helper is asked with host:port', files: { '.docker/config.json': JSON.stringify({ credHelpers: { 'reg.example:5000': 'ocitest' } }) }, query: q('https://reg.example:5000/v2/'), want: { username: 'helper-user', password: 'helper-Secret-5000', source: 'docker-credential-ocitest (credHelpers in ~/.docker/config.json)' }, asked: ['reg.example:5000'] },
  { name: 'docker credsStore: the helper is asked with the bare host on 443', files: { '.docker/config.json': JSON.stringify({ credsStore: 'ocitest', auths: { 'reg.example': {} } }) }, query: q('https://reg.example/v2/'), want: { username: 'helper-user', password: 'helper-Secret-5000', source: 'docker-credential-ocitest (credsStore in ~/.docker/config.json)' }, asked: ['reg.example'] },
  { name: 'docker credsStore "not found": falls through to auths', files: { '.docker/config.json': JSON.stringify({ credsStore: 'ocitest', auths: { 'other.example': { auth: b64('inline:inline-pass-1') } } }) }, query: q('https://other.example/v2/'), want: { username: 'inline', password: 'inline-pass-1', source: '~/.docker/config.json' }, asked: ['other.example'] },
  { name: 'a helper <token> (identity token) is no Basic credential', files: { '.docker/config.json': JSON.stringify({ credsStore: 'ocitest' }) }, query: q('https://token.example/v2/'), want: undefined, asked: ['token.example'] },
  { name: 'a failing helper does not hide ~/.netrc', files: { '.docker/config.json': JSON.stringify({ credsStore: 'ocitest' }), '.netrc': 'machine broken.example login n password netrc-pass-2\n' }, query: q('https://broken.example/v2/'), want: { username: 'n', password: 'netrc-pass-2', source: '~/.netrc' }, asked: ['broken.example'] },
  { name: '~/.netrc: machine entry (any port)', files: { '.netrc': '# mine\nmachine other.example\nlogin nu\npassword netrc-pass-3\n' }, query: q('http://other.example:8080/'), want: { username: 'nu', password: 'netrc-pass-3', source: '~/.netrc' } },
  { name: '~/.netrc: the default entry', files: { '.netrc': 'machine a.example login a password apass-1\ndefault login anon password anon-pass-1\n' }, query: q('https://b.example/'), want: { username: 'anon', password: 'anon-pass-1', source: '~/.netrc (default entry)' } },
  { name: 'no source has an entry', files: { '.docker/config.json': auths({ 'a.example': 'a:a-pass-1' }) }, query: q('https://b.example/'), want: undefined },
]

describe('findCredential: each source, in order', () => {
  it.each(cases)('$name', async ({ files = {}, env = {}, query, explicit, want, asked }) => {
    const w = await world(files, env)
    const found = await findCredential(query, { env: w.env, uid: 4242, ...(explicit ? { explicit: explicitCredential(...explicit) } : {}) })
    expect(found && { username: found.username, password: found.password, source: found.source }).toEqual(want)
    expect(await w.asked()).toEqual(asked ?? [])
  })
})

describe('findCredential: failures name the file and the key, never the secret', () => {
  const failures: Array<{ name: string; files: Record<string, string>; env?: Record<string, string>; url: string; code: string; message: RegExp; secret?: string }> = [
    { name: 'a helper that fails, with nothing after it', files: { '.docker/config.json': JSON.stringify({ credsStore: 'ocitest' }) }, url: 'https://broken.example/', code: 'AUTH_FAILED', message: /^docker-credential-ocitest \(credsStore in ~\/\.docker\/config\.json\) failed \(exit status 3\): the keychain is locked$/ },
    { name: 'a helper that is not on PATH', files: { '.docker/config.json': JSON.stringify({ credHelpers: { 'reg.example:5000': 'nosuch' } }) }, url: 'https://reg.example:5000/', code: 'AUTH_FAILED', message: /^docker-credential-nosuch \(credHelpers in ~\/\.docker\/config\.json\) is not on PATH$/ },
    { name: 'a helper that never answers', files: { '.docker/config.json': JSON.stringify({ credsStore: 'stuck' }) }, url: 'https://reg.example/', code: 'AUTH_FAILED', message: /^docker-credential-stuck \(credsStore in ~\/\.docker\/config\.json\) gave no answer within 0\.5 s$/ },
    { name: 'an auth that is not base64 of user:password', files: { '.docker/config.json': JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('no-colon-secret') } } }) }, url: 'https://reg.example:5000/', code: 'CONFIG_INVALID', message: /^~\/\.docker\/config\.json: the "auth" for "reg\.example:5000" is not base64 of user:password$/, secret: 'no-colon-secret' },
    { name: 'invalid JSON around a secret', files: { '.docker/config.json': '{"auths":{"reg.example:5000":{"auth":c2VjcmV0LXZhbHVlOnB3}}}' }, url: 'https://reg.example:5000/', code: 'CONFIG_INVALID', message: /^~\/\.docker\/config\.json: invalid JSON( at character \d+)?$/, secret: 'c2VjcmV0' },
    { name: 'OCISITE_USERNAME without OCISITE_PASSWORD', files: {}, env: { OCISITE_USERNAME: 'u' }, url: site, code: 'CONFIG_INVALID', message: /^OCISITE_PASSWORD is empty or unset while the other is set; set both, or neither$/ },
    { name: 'a netrc with an open quote', files: { '.netrc': 'machine reg.example\nlogin u\npassword "netrc-secret\n' }, url: 'https://reg.example:5000/', code: 'CONFIG_INVALID', message: /^~\/\.netrc line 3: a quoted string is not closed$/, secret: 'netrc-secret' },
  ]
  it.each(failures)('$name', async ({ files, env, url, code, message, secret }) => {
    const w = await world(files, env)
    const err = await findCredential({ url, site }, { env: w.env, uid: 4242, helperTimeoutMs: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(OcisiteError)
    expect((err as OcisiteError).code).toBe(code)
    expect((err as OcisiteError).message).toMatch(message)
    if (secret) expect(inspect(err, { depth: 5 })).not.toContain(secret)
  })
})

describe('--user and --password-stdin', () => {
  it.each([
    ['s3cret\n', 's3cret'],
    ['s3cret\r\n', 's3cret'],
    ['s3cret', 's3cret'],
    ['two\nlines\n', 'two\nlines'],
    ['  spaced  \n', '  spaced  '],
  ])('reads %j as %j (one trailing newline dropped, as docker does)', async (input, want) => {
    expect(await readPasswordStdin(Readable.from([Buffer.from(input)]))).toBe(want)
  })

  it.each([
    ['nothing', '', /standard input was empty/],
    ['a newline alone', '\n', /standard input was empty/],
    ['70,000 bytes', 'x'.repeat(70_000), /more than 65536 bytes/],
  ])('refuses %s', async (_name, input, message) => {
    await expect(readPasswordStdin(Readable.from([Buffer.from(input)]))).rejects.toThrow(message)
  })

  it.each([
    ['', 'pw-1234', /--user: the username is empty/],
    ['a:b', 'pw-1234', /contains ":", which HTTP Basic cannot carry/],
    ['alice', 'pw\n1234', /control character/],
  ])('refuses user %j', (user, password, message) => {
    expect(() => explicitCredential(user, password)).toThrow(message)
  })
})

describe('Credential', () => {
  const c = new Credential('alice', 'hidden-Pass-77', '~/.docker/config.json')
  it('builds the Basic header (UTF-8)', () => {
    expect(c.authorization()).toBe(`Basic ${b64('alice:hidden-Pass-77')}`)
    expect(new Credential('jürgen', 'päss-wörd', 'x').authorization()).toBe(`Basic ${Buffer.from('jürgen:päss-wörd', 'utf8').toString('base64')}`)
  })
  it.each([
    ['JSON.stringify', () => JSON.stringify({ c })],
    ['util.inspect', () => inspect({ c }, { depth: 5 })],
    ['String()', () => String(c)],
    ['an error context', () => inspect(new OcisiteError('AUTH_FAILED', 'x', { credential: c }), { depth: 5 })],
  ])('%s shows no password', (_name, show) => {
    const text = show()
    expect(text).not.toContain('hidden-Pass-77')
    expect(text).not.toContain(b64('alice:hidden-Pass-77'))
    expect(text).toMatch(/\*\*\*|config\.json/)
  })
})

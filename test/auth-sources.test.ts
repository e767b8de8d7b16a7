// Issue 27, acceptance 2 and 5: each credential source the installed ocisite reads, one case each
// (a docker-credential helper script on PATH among them), against Debian's nginx with the whole
// site behind auth_basic; a wrong password from each is refused with exit 7 naming the source;
// plain HTTP to a host that is not loopback gets no credentials without --insecure-auth; and the
// password is in no output (--verbose included), no error, no lock file, layout or cache.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from './helpers/fixtures.js'
import { installed } from './helpers/installed.js'
import { filesHoldingSecrets, PASSWORD, SECRET_FORMS, startPrivateSites, USER, type PrivateSites } from './helpers/private-site.js'

let sites: PrivateSites
let scratch: string

beforeAll(async () => {
  // A source read from the test runner's own environment would make a case pass for the wrong reason.
  for (const v of ['OCISITE_USERNAME', 'OCISITE_PASSWORD', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) expect(process.env[v], v).toBeUndefined()
  sites = await startPrivateSites()
  scratch = await tempDir('ocisite-auth-sources-')
})

afterAll(async () => {
  await sites?.stop()
  if (scratch) await fs.rm(scratch, { recursive: true, force: true })
})

const host = () => `127.0.0.1:${sites.ports.whole}`
const basic = (password: string) => Buffer.from(`${USER}:${password}`).toString('base64')
const authFile = (password: string) => JSON.stringify({ auths: { [host()]: { auth: basic(password) } } })

/** A docker-credential helper speaking the protocol: `get`, the server on stdin, JSON on stdout. */
const helperScript = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported: $1" >&2; exit 1; }
read -r server
[ "$server" = "$EXPECTED_SERVER" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"${USER}","Secret":"%s"}\\n' "$server" "$(cat "$HOME/helper-secret")"
`

interface Case {
  /** How the error names the source. */
  source: string
  /** Write the files of this source into `home` with `password`; the args, env and stdin it needs. */
  setup(home: string, password: string): Promise<{ args?: string[]; env?: NodeJS.ProcessEnv; input?: string }>
}

const write = async (file: string, text: string, mode = 0o600) => {
  await fs.mkdir(path.dirname(file), { recursive: true })
  await fs.writeFile(file, text, { mode })
}

const helperCase = (config: (name: string) => object, via: string): Case => ({
  source: `docker-credential-test (${via} in ~/.docker/config.json)`,
  async setup(home, password) {
    await write(path.join(home, 'bin', 'docker-credential-test'), helperScript, 0o755)
    await write(path.join(home, 'helper-secret'), password)
    await write(path.join(home, '.docker', 'config.json'), JSON.stringify(config('test')))
    return { env: { PATH: `${path.join(home, 'bin')}:${process.env.PATH}`, EXPECTED_SERVER: host() } }
  },
})

const cases: Array<[string, Case]> = [
  ['--user with --password-stdin', { source: '--user', setup: async (_home, password) => ({ args: ['--user', USER, '--password-stdin'], input: `${password}\n` }) }],
  ['OCISITE_USERNAME and OCISITE_PASSWORD', { source: 'OCISITE_USERNAME/OCISITE_PASSWORD', setup: async (_home, password) => ({ env: { OCISITE_USERNAME: USER, OCISITE_PASSWORD: password } }) }],
  [
    '$REGISTRY_AUTH_FILE',
    {
      source: '$REGISTRY_AUTH_FILE (~/podman-auth.json)',
      async setup(home, password) {
        await write(path.join(home, 'podman-auth.json'), authFile(password))
        return { env: { REGISTRY_AUTH_FILE: path.join(home, 'podman-auth.json') } }
      },
    },
  ],
  [
    '$XDG_RUNTIME_DIR/containers/auth.json',
    {
      source: '~/run/containers/auth.json',
      async setup(home, password) {
        await write(path.join(home, 'run', 'containers', 'auth.json'), authFile(password))
        return {}
      },
    },
  ],
  [
    "docker's config.json auths",
    {
      source: '~/.docker/config.json',
      async setup(home, password) {
        await write(path.join(home, '.docker', 'config.json'), authFile(password))
        return {}
      },
    },
  ],
  ['docker credHelpers (a helper script on PATH)', helperCase((name) => ({ credHelpers: { [host()]: name } }), 'credHelpers')],
  ['docker credsStore (the same helper)', helperCase((name) => ({ auths: { [host()]: {} }, credsStore: name }), 'credsStore')],
  [
    '~/.netrc',
    {
      source: '~/.netrc',
      async setup(home, password) {
        await write(path.join(home, '.netrc'), `machine 127.0.0.1\n  login ${USER}\n  password ${password}\n`)
        return {}
      },
    },
  ],
]

/** A fresh home for a case: no credential anywhere but what the case writes. */
async function run(name: string, c: Case, password: string, command: (home: string) => string[]) {
  const home = path.join(scratch, `${name.replace(/\W+/g, '-')}-${password === PASSWORD ? 'right' : 'wrong'}`)
  await fs.mkdir(home, { recursive: true })
  const given = await c.setup(home, password)
  const env = { HOME: home, XDG_RUNTIME_DIR: path.join(home, 'run'), XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache'), ...given.env }
  const args = command(home)
  // verify and ls take the site's URL; the others a name, with the scheme and port as flags.
  const where = args[0] === 'verify' || args[0] === 'ls' ? [] : ['--protocol', 'http', '--port', String(sites.ports.whole)]
  const result = await installed([...args, ...where, ...(given.args ?? [])], { cwd: home, env, ...(given.input ? { input: given.input } : {}) })
  return { ...result, home }
}

const resolveApp = () => ['resolve', '127.0.0.1/app#1.0', '--json']

describe('each credential source, in its own home', () => {
  it.each(cases)('%s: resolves with the right password', async (name, c) => {
    const r = await run(name, c, PASSWORD, resolveApp)
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)['127.0.0.1/app#1.0'][0].descriptor.digest).toBe(sites.tags.app!['1.0'])
  })

  it.each(cases)('%s: a wrong password exits 7, naming the host and the source', async (name, c) => {
    const r = await run(name, c, 'not-the-password', resolveApp)
    expect(r.code).toBe(7)
    expect(r.stderr).toBe(`ocisite: error[AUTH_FAILED]: ${host()} refused the credentials from ${c.source} (HTTP 401)\n`)
  })

  it('no source at all: exit 7, none were found', async () => {
    const r = await run('none', { source: '', setup: async () => ({}) }, PASSWORD, resolveApp)
    expect(r.code).toBe(7)
    expect(r.stderr).toMatch(new RegExp(`^ocisite: error\\[AUTH_FAILED\\]: ${host().replace(/\./g, '\\.')} asks for a username and password \\(realm "127\\.0\\.0\\.1"\\) and none were found`))
  })

  it('the order: OCISITE_* comes before a wrong docker config.json, and --user before both', async () => {
    const docker = cases.find(([n]) => n.startsWith("docker's"))![1]
    const both: Case = {
      source: '',
      async setup(home) {
        await docker.setup(home, 'wrong-in-docker')
        return { env: { OCISITE_USERNAME: USER, OCISITE_PASSWORD: PASSWORD } }
      },
    }
    expect((await run('order-env', both, PASSWORD, resolveApp)).code).toBe(0)
    const wrongEnv: Case = { source: '', setup: async () => ({ env: { OCISITE_USERNAME: USER, OCISITE_PASSWORD: 'wrong' }, args: ['--user', USER, '--password-stdin'], input: PASSWORD }) }
    expect((await run('order-user', wrongEnv, PASSWORD, resolveApp)).code).toBe(0)
  })
})

describe('plain HTTP to a host that is not loopback', () => {
  const viaName = () => ['resolve', 'private.test/app#1.0', '--json', '--resolve', `private.test:${sites.ports.whole}:127.0.0.1`]
  const user = cases[0]![1]

  it('withholds the credentials: exit 7, saying why', async () => {
    const r = await run('plain', user, PASSWORD, viaName)
    expect(r.code).toBe(7)
    expect(r.stderr).toBe(`ocisite: error[AUTH_FAILED]: private.test:${sites.ports.whole} asks for credentials; not sending the credentials from --user over plain HTTP to a host that is not loopback; use https, or --insecure-auth if this network is trusted\n`)
  })

  it('sends them with --insecure-auth', async () => {
    const r = await run('insecure', user, PASSWORD, () => [...viaName(), '--insecure-auth'])
    expect(r.code, r.stderr).toBe(0)
  })
})

describe('never written down', () => {
  const site = () => `http://${host()}`
  const commands: Array<[string, (home: string) => string[]]> = [
    ['pull --verbose', (home) => ['pull', '127.0.0.1/multi#2.0', path.join(home, 'layout'), '--all-platforms', '--verbose']],
    ['get --verbose (through the cache)', (home) => ['get', '127.0.0.1/stack#0.1', path.join(home, 'files'), '--verbose']],
    ['lock --verbose', (home) => ['lock', '127.0.0.1/app#1.0', '127.0.0.1/org/app#v1', '--out', path.join(home, 'ocisite.lock'), '--verbose']],
    ['verify --deep', () => ['verify', site(), '--deep']],
    ['ls', () => ['ls', site()]],
    ['inspect', () => ['inspect', '127.0.0.1/app#1.0']],
  ]
  const sources = cases.filter(([n]) => n.startsWith('--user') || n.startsWith('docker credHelpers') || n.startsWith('~/.netrc'))

  it.each(commands.flatMap(([what, command]) => sources.map(([name, c]) => [what, name, c, command] as const)))('%s with %s: no secret in its output, its files or the cache', async (_what, name, c, command) => {
    const right = await run(`leak-${_what}-${name}`, c, PASSWORD, command)
    expect(right.code, right.stderr).toBe(0)
    const wrong = await run(`leak-${_what}-${name}`, c, `${PASSWORD}-but-wrong`, command)
    expect(wrong.code).toBe(7)
    for (const out of [right.stdout, right.stderr, wrong.stdout, wrong.stderr]) for (const secret of SECRET_FORMS) expect(out).not.toContain(secret)
    // The credential files hold the secret by design; nothing else in the home may.
    const credentialFiles = ['.netrc', 'helper-secret', '.docker/config.json'].map((f) => path.join(right.home, f))
    expect((await filesHoldingSecrets(right.home)).filter((f) => !credentialFiles.includes(f))).toEqual([])
  })
})

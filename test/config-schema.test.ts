// ocisite.json is validated against the shipped ocisite.schema.json: every documented key is
// accepted, and a misspelt key or a wrong type stops the build with one line naming the key.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configSchemaFile } from '../src/site/config-file.js'
import { normalizeBuildOptions } from '../src/site/options.js'
import { ocisite } from './helpers/cli.js'
import { standardLayouts, tempDir } from './helpers/fixtures.js'

let work: string
const schema = JSON.parse(await fs.readFile(configSchemaFile, 'utf8'))
const readme = await fs.readFile(new URL('../README.md', import.meta.url), 'utf8')

beforeAll(async () => {
  work = await tempDir()
  await standardLayouts(path.join(work, 'layouts'))
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

/** A valid value for each key the schema documents (a key missing here fails the table below). */
const validValues: Record<string, unknown> = {
  $schema: './ocisite.schema.json',
  host: 'example.com',
  out: 'public',
  baseUrl: 'https://cdn.example.com/site',
  v2: false,
  headersFile: true,
  html: false,
  inputs: ['layouts/app'],
  tags: ['1.*', 'latest'],
  images: [{ from: 'layouts/org/app', path: 'org/app', tags: ['v*'] }],
  'nginx.file': 'site.conf',
  'nginx.root': '/srv/ocisite/current',
  'nginx.listen': ['127.0.0.1:8080', '[::1]:8080'],
  'nginx.httpListen': 8080,
  'nginx.tlsCert': 'cert.pem',
  'nginx.tlsKey': 'key.pem',
  'nginx.acmeRoot': '/var/www/acme',
  'nginx.authBasic': 'users.htpasswd',
  'nginx.authPath': ['/v2/private/', '/oci-index/private'],
  'nginx.authRealm': 'Private OCI',
}

const documentedKeys = [
  ...Object.keys(schema.properties).filter((k) => k !== 'nginx'),
  ...Object.keys(schema.properties.nginx.properties).map((k) => `nginx.${k}`),
]

async function writeConfig(doc: unknown): Promise<string> {
  const dir = await fs.mkdtemp(path.join(work, 'cfg-'))
  await fs.writeFile(path.join(dir, 'ocisite.json'), JSON.stringify(doc))
  return path.join(dir, 'ocisite.json')
}

describe('ocisite.json keys', () => {
  it.each(documentedKeys)('accepts %s', async (key) => {
    expect(validValues, `no valid value listed for ${key}`).toHaveProperty([key])
    const doc: Record<string, any> = { host: 'example.com', inputs: [path.join(work, 'layouts', 'app')] }
    const [head, tail] = key.split('.')
    if (tail) doc[head!] = { ...(doc[head!] ?? {}), [tail]: validValues[key] }
    else doc[key] = validValues[key]
    if (key === 'nginx.tlsCert' || key === 'nginx.tlsKey' || key === 'nginx.httpListen') doc.nginx = { ...doc.nginx, tlsCert: 'cert.pem', tlsKey: 'key.pem' }
    // Authentication protects the generated nginx config: it needs a file to write and a user file.
    if (key.startsWith('nginx.auth')) doc.nginx = { file: 'site.conf', authBasic: 'users.htpasswd', ...doc.nginx }
    if (key === 'images' || key === 'inputs') doc.inputs = [path.join(work, 'layouts', 'app')]
    const file = await writeConfig(doc)
    await expect(normalizeBuildOptions({ config: file, cwd: work })).resolves.toBeTruthy()
  })

  it.each(documentedKeys)('README documents %s', (key) => {
    if (key === '$schema') return expect(readme).toContain('"$schema"')
    expect(readme).toContain(`\`${key}\``)
  })

  it('the example config names the schema and follows it', async () => {
    const example = JSON.parse(await fs.readFile(new URL('../example-site/ocisite.json', import.meta.url), 'utf8'))
    expect(example.$schema).toBe('../ocisite.schema.json')
  })
})

describe('a bad ocisite.json stops the build with exit 2 and one line naming the key', () => {
  it.each([
    ['a misspelt top-level key', { output: 'public' }, /unknown key "output" \(did you mean "out"\?\)/],
    ['a singular for a plural', { tag: ['1.0'] }, /unknown key "tag" \(did you mean "tags"\?\)/],
    ['a misspelt nested key', { nginx: { rooot: '/srv' } }, /unknown key "nginx.rooot" \(did you mean "nginx.root"\?\)/],
    ['an unknown key with no near name', { flavour: 'vanilla' }, /unknown key "flavour"$/],
    ['an unknown key in an image', { images: [{ from: 'layouts/app', tag: ['1.0'] }] }, /unknown key "images\[0\].tag" \(did you mean "images\[0\].tags"\?\)/],
    ['a string for a boolean', { v2: 'yes' }, /"v2" must be boolean/],
    ['a number for a string', { out: 7 }, /"out" must be string/],
    ['a boolean for a listen address', { nginx: { listen: true } }, /"nginx.listen" must be string or number or array/],
    ['a number in a tag list', { tags: ['1.0', 2] }, /"tags\[1\]" must be string/],
    ['an image without from', { images: [{ path: 'x' }] }, /"images\[0\]" must have required property 'from'/],
  ])('%s', async (_, extra, message) => {
    const file = await writeConfig({ host: 'example.com', inputs: ['../layouts/app'], ...extra })
    const out = path.join(path.dirname(file), 'public')
    const r = await ocisite(['build', '--config', file, '--out', out])
    expect(r.code).toBe(2)
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(file)
    expect(lines[0]).toMatch(message)
    await expect(fs.stat(out)).rejects.toThrow()
  })
})

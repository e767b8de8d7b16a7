// The authenticator the HTTP client asks on a 401: which credential answers, for which site, and
// the AUTH_FAILED errors when none may go.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Credential, credentialAuthenticator } from '../../src/client/credentials/index.js'
import { isOcisiteError } from '../../src/errors.js'

let home: string
beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-authenticator-'))
  await fs.writeFile(path.join(home, '.netrc'), 'machine cdn.example login netrc-user password netrc-pass-1\n')
})
afterAll(() => fs.rm(home, { recursive: true, force: true }))

const env = () => ({ HOME: home, XDG_RUNTIME_DIR: path.join(home, 'run') })
const basic = 'Basic realm="site"'
const decode = (h: string) => Buffer.from(h.replace(/^Basic /, ''), 'base64').toString('utf8')

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  if (!isOcisiteError(err)) throw new Error(`expected an OcisiteError, got ${String(err)}`)
  return { code: err.code, message: err.message }
}

describe('credentialAuthenticator', () => {
  const explicit = new Credential('ci', 'explicit-pass-1', '--user')

  it.each([
    ['the named site, https', 'https://example.com/oci-index/app', 'ci:explicit-pass-1'],
    ['the named site, another path', 'https://example.com/v2/app/manifests/1.0', 'ci:explicit-pass-1'],
    ['another host: its own source (netrc), never --user', 'https://cdn.example/blob', 'netrc-user:netrc-pass-1'],
  ])('%s', async (_name, url, want) => {
    const auth = credentialAuthenticator({ explicit, env: env(), sites: ['https://example.com'] })
    expect(decode(await auth.answer(new URL(url), basic))).toBe(want)
  })

  it.each([
    ['another port of the named host gets no --user', 'https://example.com:8443/x', basic, /example\.com:8443 asks for a username and password \(realm "site"\) and none were found/],
    ['a challenge that is not Basic', 'https://example.com/x', 'Bearer realm="x"', /asks for credentials; not sending credentials because it asks for an authentication scheme other than Basic/],
    ['a 401 with no challenge', 'https://example.com/x', undefined, /because its 401 names no authentication scheme/],
    ['plain HTTP to a host that is not loopback', 'http://example.com/x', basic, /^example\.com asks for credentials; not sending the credentials from --user over plain HTTP/],
  ])('AUTH_FAILED: %s', async (_name, url, challenge, message) => {
    const auth = credentialAuthenticator({ explicit, env: env(), sites: ['https://example.com', 'http://example.com'] })
    const f = await failure(auth.answer(new URL(url), challenge))
    expect(f.code).toBe('AUTH_FAILED')
    expect(f.message).toMatch(message)
    expect(f.message).not.toContain('explicit-pass-1')
  })

  it('plain HTTP: loopback, or any host with insecureAuth', async () => {
    const loop = credentialAuthenticator({ explicit, env: env(), sites: ['http://127.0.0.1:8080'] })
    expect(decode(await loop.answer(new URL('http://127.0.0.1:8080/x'), basic))).toBe('ci:explicit-pass-1')
    const insecure = credentialAuthenticator({ explicit, env: env(), sites: ['http://example.com'], insecureAuth: true })
    expect(decode(await insecure.answer(new URL('http://example.com/x'), basic))).toBe('ci:explicit-pass-1')
  })

  it('a refusal names the host and the source of what was sent, never the secret', async () => {
    const auth = credentialAuthenticator({ explicit, env: env(), sites: ['https://example.com'] })
    await auth.answer(new URL('https://example.com/x'), basic)
    const err = auth.refused(new URL('https://example.com/y'), 403)
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.message).toBe('example.com refused the credentials from --user (HTTP 403)')
  })
})

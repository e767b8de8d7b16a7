import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { authFailedError } from '../../src/client/credentials/auth-error.js'
import { Credential } from '../../src/client/credentials/credential.js'
import { redact, redactHeaders, redactUrl } from '../../src/client/credentials/redact.js'
import { ExitCode } from '../../src/errors.js'

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')

describe('redact: patterns', () => {
  it.each([
    ['URL userinfo', 'GET https://alice:pw-one@reg.example/v2/ failed', 'GET https://***@reg.example/v2/ failed'],
    ['URL userinfo, token only', 'clone https://ghp_tokenvalue@github.com/x', 'clone https://***@github.com/x'],
    ['URL userinfo with a raw "@" in the password', 'http://bob:p@ss@127.0.0.1:8080/v2/', 'http://***@127.0.0.1:8080/v2/'],
    ['two URLs', 'redirect https://a:b1@x.example/ -> https://c:d2@y.example/', 'redirect https://***@x.example/ -> https://***@y.example/'],
    ['a URL without userinfo is kept', 'see https://reg.example/v2/a@sha256:abc', 'see https://reg.example/v2/a@sha256:abc'],
    ['an Authorization header line', 'Authorization: Basic YWxpY2U6cHctb25l\r\nAccept: */*', 'Authorization: Basic ***\r\nAccept: */*'],
    ['lower case, Bearer', 'authorization: Bearer eyJhbGciOi.x.y', 'authorization: Bearer ***'],
    ['Proxy-Authorization', 'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: Basic ***'],
    ['a header object printed by util.inspect', "{ authorization: 'Basic YWxpY2U6cHctb25l', accept: '*/*' }", "{ authorization: 'Basic ***', accept: '*/*' }"],
    ['a header in JSON', '{"Authorization":"Basic YWxpY2U6cHctb25l","Accept":"*/*"}', '{"Authorization":"Basic ***","Accept":"*/*"}'],
    ['a value with no scheme', 'Authorization: sometoken', 'Authorization: ***'],
    ['docker config.json auth', '{"auths":{"r.example":{"auth":"YWxpY2U6cHctb25l"}}}', '{"auths":{"r.example":{"auth":"***"}}}'],
    ['a helper answer', '{"ServerURL":"r.example","Username":"alice","Secret":"s3cr\\"et"}', '{"ServerURL":"r.example","Username":"alice","Secret":"***"}'],
    ['identitytoken', '{"identitytoken":"abc"}', '{"identitytoken":"***"}'],
    ['token query parameters', 'https://r.example/x?access_token=abc&y=1&password=p', 'https://r.example/x?access_token=***&y=1&password=***'],
    ['plain text stays', 'manifest unknown: sha256:0123', 'manifest unknown: sha256:0123'],
  ])('%s', (_name, text, want) => {
    expect(redact(text)).toBe(want)
  })
})

describe('redact: the values of loaded credentials', () => {
  // Constructing a Credential registers its secrets for every later redact() in this process.
  const cred = new Credential('carol', 'Tr0ub4dor&3-unique', 'docker-credential-pass (credsStore in ~/.docker/config.json)')
  it.each([
    ['the password echoed in a server body', 'server said: bad password Tr0ub4dor&3-unique for carol', 'server said: bad password *** for carol'],
    ['the base64 token on its own', `token ${b64('carol:Tr0ub4dor&3-unique')} rejected`, 'token *** rejected'],
    ['percent-encoded in a URL path', `https://r.example/${encodeURIComponent('Tr0ub4dor&3-unique')}/x`, 'https://r.example/***/x'],
  ])('%s', (_name, text, want) => {
    expect(redact(text)).toBe(want)
  })
  it('values passed in for one call, however short', () => {
    expect(redact('pin 42 and more', ['42'])).toBe('pin *** and more')
  })
  it('the credential itself', () => {
    for (const shown of [redact(inspect(cred)), JSON.stringify(cred), String(cred)]) expect(shown).not.toContain('Tr0ub4dor')
  })
})

describe('redactHeaders and redactUrl', () => {
  it('replaces credential-bearing headers and scrubs the rest', () => {
    expect(
      redactHeaders({
        Authorization: 'Basic YWxpY2U6cHctb25l',
        'proxy-authorization': 'opaque',
        Cookie: 'session=abc',
        Location: 'https://u:p-secret@cdn.example/x',
        Accept: ['a', 'b'],
        'Content-Length': undefined,
      }),
    ).toEqual({
      Authorization: 'Basic ***',
      'proxy-authorization': '***',
      Cookie: '***',
      Location: 'https://***@cdn.example/x',
      Accept: ['a', 'b'],
      'Content-Length': undefined,
    })
  })
  it.each([
    ['https://alice:pw-one@reg.example:8443/v2/?x=1', 'https://***@reg.example:8443/v2/?x=1'],
    ['https://reg.example/v2/', 'https://reg.example/v2/'],
  ])('%s', (url, want) => {
    expect(redactUrl(url)).toBe(want)
  })
})

describe('authFailedError: one line, the host and the source, exit code 7', () => {
  const cred = new Credential('dave', 'very-Secret-pw-9', '~/.docker/config.json')
  it.each([
    ['missing', authFailedError('https://reg.example:8443/v2/', { kind: 'missing', realm: 'private' }), 'reg.example:8443 asks for a username and password (realm "private") and none were found: use --user with --password-stdin, OCISITE_USERNAME and OCISITE_PASSWORD, podman login or docker login, or ~/.netrc'],
    ['refused', authFailedError('https://dave:very-Secret-pw-9@reg.example/v2/', { kind: 'refused', status: 401, credential: cred }), 'reg.example refused the credentials from ~/.docker/config.json (HTTP 401)'],
    ['withheld over plain HTTP', authFailedError('http://reg.example/v2/', { kind: 'withheld', decision: { send: false, reason: 'plain-http' }, credential: cred }), 'reg.example asks for credentials; not sending the credentials from ~/.docker/config.json over plain HTTP to a host that is not loopback; use https, or --insecure-auth if this network is trusted'],
  ])('%s', (_name, err, message) => {
    expect(err.message).toBe(message)
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.exitCode).toBe(ExitCode.Auth)
    expect(ExitCode.Auth).toBe(7)
    const everything = inspect(err, { depth: 10 }) + JSON.stringify(err.context)
    expect(everything).not.toContain('very-Secret-pw-9')
    expect(everything).not.toContain('dave')
  })
})

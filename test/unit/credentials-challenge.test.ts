import { describe, expect, it } from 'vitest'
import { isLoopback, mayForward, parseWwwAuthenticate, shouldSend, type Challenge } from '../../src/client/credentials/challenge.js'

describe('parseWwwAuthenticate (RFC 7235)', () => {
  const cases: Array<[string, string | string[], Challenge[]]> = [
    ['Basic with a realm', 'Basic realm="my site"', [{ scheme: 'Basic', params: { realm: 'my site' } }]],
    ['nginx auth_basic', 'Basic realm="example.com"', [{ scheme: 'Basic', params: { realm: 'example.com' } }]],
    ['a bare scheme', 'Basic', [{ scheme: 'Basic', params: {} }]],
    ['scheme and param names are case-insensitive', 'basic REALM="x", Charset="UTF-8"', [{ scheme: 'basic', params: { realm: 'x', charset: 'UTF-8' } }]],
    ['a token value', 'Basic realm=simple', [{ scheme: 'Basic', params: { realm: 'simple' } }]],
    ['BWS around "="', 'Basic realm = "x"', [{ scheme: 'Basic', params: { realm: 'x' } }]],
    ['commas and escapes inside a quoted string', 'Basic realm="a, b \\"c\\" \\\\ d"', [{ scheme: 'Basic', params: { realm: 'a, b "c" \\ d' } }]],
    [
      'distribution Bearer then Basic in one header',
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull", Basic realm="registry"',
      [
        { scheme: 'Bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' } },
        { scheme: 'Basic', params: { realm: 'registry' } },
      ],
    ],
    ['two headers', ['Negotiate', 'Basic realm="r"'], [{ scheme: 'Negotiate', params: {} }, { scheme: 'Basic', params: { realm: 'r' } }]],
    ['token68 then another challenge', 'Negotiate abc+/def==, Basic realm="r"', [{ scheme: 'Negotiate', params: {}, token68: 'abc+/def==' }, { scheme: 'Basic', params: { realm: 'r' } }]],
    ['empty list elements', ' , Basic realm="r" ,, ', [{ scheme: 'Basic', params: { realm: 'r' } }]],
    ['a repeated param keeps the first', 'Basic realm="first", realm="second"', [{ scheme: 'Basic', params: { realm: 'first' } }]],
    ['a scheme after params with no space issue', 'Digest realm="d", nonce="n", qop="auth", Basic realm="b"', [{ scheme: 'Digest', params: { realm: 'd', nonce: 'n', qop: 'auth' } }, { scheme: 'Basic', params: { realm: 'b' } }]],
    ['a lone "name=" is a token68 (RFC 7235)', 'Basic realm=', [{ scheme: 'Basic', params: {}, token68: 'realm=' }]],
    ['a lone token after a comma is the next scheme', 'Basic realm="x", Negotiate', [{ scheme: 'Basic', params: { realm: 'x' } }, { scheme: 'Negotiate', params: {} }]],
    ['empty header', '', []],
  ]
  it.each(cases)('%s', (_name, header, want) => {
    expect(parseWwwAuthenticate(header)).toEqual(want)
  })

  it.each([
    ['an unclosed quote', 'Basic realm="open', /a quoted string is not closed/],
    ['a param without a value', 'Basic charset="x", realm=', /expected a value for "realm"/],
    ['a param name without "="', 'Basic realm "x"', /expected "=" after "realm"/],
    ['garbage between params', 'Basic realm="x" junk', /expected "," between auth-params/],
    ['no scheme', '="x"', /expected an auth-scheme/],
    ['a scheme glued to a quote', 'Basic"x"', /expected a space after "Basic"/],
  ])('refuses %s (PROTOCOL)', (_name, header, message) => {
    let err: unknown
    try {
      parseWwwAuthenticate(header)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'PROTOCOL' })
    expect((err as Error).message).toMatch(/^malformed WWW-Authenticate header: /)
    expect((err as Error).message).toMatch(message)
  })
})

describe('isLoopback', () => {
  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['[::1]', true],
    ['::1', true],
    ['[::ffff:7f00:1]', true], // URL's form of ::ffff:127.0.0.1
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['[::2]', false],
    ['localhost.evil.example', false],
    ['127.0.0.1.nip.io', false],
    ['example.com', false],
  ])('%s → %s', (host, want) => {
    expect(isLoopback(host)).toBe(want)
  })
})

describe('shouldSend: only after a 401 naming Basic, never over plain HTTP to another machine', () => {
  const basic = 'Basic realm="site"'
  it.each([
    ['https and Basic', 'https://reg.example/v2/', basic, {}, { send: true, realm: 'site' }],
    ['Basic among others', 'https://reg.example/v2/', 'Bearer realm="x", Basic realm="b"', {}, { send: true, realm: 'b' }],
    ['Basic without a realm', 'https://reg.example/v2/', 'Basic', {}, { send: true, realm: undefined }],
    ['no WWW-Authenticate', 'https://reg.example/v2/', undefined, {}, { send: false, reason: 'no-challenge' }],
    ['an empty header', 'https://reg.example/v2/', '', {}, { send: false, reason: 'no-challenge' }],
    ['Bearer only', 'https://reg.example/v2/', 'Bearer realm="https://auth/token"', {}, { send: false, reason: 'not-basic' }],
    ['plain HTTP to another machine', 'http://reg.example/v2/', basic, {}, { send: false, reason: 'plain-http' }],
    ['plain HTTP to a private address', 'http://10.1.2.3:5000/v2/', basic, {}, { send: false, reason: 'plain-http' }],
    ['plain HTTP with --insecure-auth', 'http://reg.example/v2/', basic, { insecureAuth: true }, { send: true, realm: 'site' }],
    ['plain HTTP to 127.0.0.1', 'http://127.0.0.1:8080/v2/', basic, {}, { send: true, realm: 'site' }],
    ['plain HTTP to 127.0.0.1 in hex', 'http://0x7f.1:8080/v2/', basic, {}, { send: true, realm: 'site' }],
    ['plain HTTP to localhost', 'http://localhost:8080/v2/', basic, {}, { send: true, realm: 'site' }],
    ['plain HTTP to [::1]', 'http://[::1]:8080/v2/', basic, {}, { send: true, realm: 'site' }],
    ['plain HTTP to a name that starts like localhost', 'http://localhost.evil.example/v2/', basic, {}, { send: false, reason: 'plain-http' }],
    ['not http at all', 'ftp://reg.example/', basic, {}, { send: false, reason: 'not-http' }],
  ] as const)('%s', (_name, url, header, options, want) => {
    expect(shouldSend(url, header, options)).toEqual(want)
  })

  it('takes parsed challenges too', () => {
    expect(shouldSend('https://r.example/', parseWwwAuthenticate('Basic realm="p"'))).toEqual({ send: true, realm: 'p' })
  })

  it('a malformed header is the server breaking the protocol', () => {
    expect(() => shouldSend('https://r.example/', 'Basic realm="open')).toThrow(/malformed WWW-Authenticate/)
  })
})

describe('mayForward: never to another host, port or scheme on a redirect', () => {
  it.each([
    ['the same origin, another path', 'https://reg.example/v2/a/blobs/x', 'https://reg.example/oci-cas/sha256/ab/x', true],
    ['explicit default port', 'https://reg.example/v2/', 'https://reg.example:443/v2/', true],
    ['host case', 'https://Reg.Example/v2/', 'https://reg.example/v2/', true],
    ['a CDN', 'https://reg.example/v2/a/blobs/x', 'https://cdn.example/x', false],
    ['a bucket', 'https://reg.example/v2/', 'https://bucket.s3.amazonaws.com/x', false],
    ['a subdomain', 'https://reg.example/', 'https://a.reg.example/', false],
    ['another port', 'http://127.0.0.1:8080/v2/', 'http://127.0.0.1:8081/x', false],
    ['a downgrade to http', 'https://reg.example/', 'http://reg.example/', false],
    ['http to https on the same host', 'http://reg.example/', 'https://reg.example/', false],
    ['a lookalike with userinfo', 'https://reg.example/', 'https://reg.example@evil.example/', false],
  ])('%s', (_name, from, to, want) => {
    expect(mayForward(from, to)).toBe(want)
  })
})

import { describe, expect, it } from 'vitest'
import Handlebars from 'handlebars'
import { normalizeSiteAuth, UNAUTHORIZED_BODY, type SiteAuth, type SiteAuthInput } from '../../src/site/serve/auth.js'
import { parseHtpasswd, verifyPassword } from '../../src/site/serve/htpasswd.js'
import { nginxAuthContext, registerAuthPartial } from '../../src/site/serve/nginx-auth.js'
import { createAuthGuard, parseBasicAuthorization } from '../../src/site/serve/serve-auth.js'
import { siteRoutes } from '../../src/site/serve/routes.js'

/**
 * Hashes made by other implementations, so the verifier is checked against them and not against
 * itself: apr1 and {SHA} by `openssl passwd -apr1` / `openssl dgst -sha1`, bcrypt $2y$ by
 * libxcrypt's crypt() (what Debian's nginx calls), $2b$ by bcryptjs.
 */
const vectors = {
  ascii: {
    password: 'ascii-Pass1',
    apr1: '$apr1$Zq8vL2xw$aqCOGlRDpvANUAD8XJLtU0',
    sha: '{SHA}l4+JHBk9SfeOnbLtgSQw0PNj7tg=',
    bcrypt2y: '$2y$04$Nn0PZQ4HqMJ2Wk7Vh9y8Ke9gToVJ3AiJep9diFvTgv9ChP3xGsxNO',
    bcrypt2b: '$2b$04$/P0U4as4.y6V/g.rZiPeF.Q2BnFEhv2SCoUTQVqOtCDroaeNo9sYW',
  },
  utf8: {
    password: 'pässwörd',
    apr1: '$apr1$Zq8vL2xw$IOLa557.UNrjTbGRZO6TG.',
    sha: '{SHA}9Rfd8dMqES/xrVXGbRsSyzjn6Pc=',
    bcrypt2y: '$2y$04$Nn0PZQ4HqMJ2Wk7Vh9y8KetCxxpc/xeYPWz4qbzc30Y.2GWKSTLbW',
    bcrypt2b: '$2b$04$BPvqo0JVbmsiSO0pxemqnuGT9JDElY.nv6jsWAgcIWaP6/tSNpCau',
  },
}

const file = [
  '# users of the private site',
  `apr:${vectors.ascii.apr1}`,
  `sha:${vectors.ascii.sha}`,
  `bcy:${vectors.ascii.bcrypt2y}`,
  `bcb:${vectors.ascii.bcrypt2b}:a comment field`,
  `uapr:${vectors.utf8.apr1}`,
  `usha:${vectors.utf8.sha}`,
  `ubcy:${vectors.utf8.bcrypt2y}`,
  `ubcb:${vectors.utf8.bcrypt2b}`,
  '',
].join('\r\n')
const users = parseHtpasswd(file, 'users')

describe('htpasswd', () => {
  it('reads every supported kind', () => {
    expect([...users.values()].map((e) => [e.user, e.kind])).toEqual([
      ['apr', 'apr1'], ['sha', 'sha1'], ['bcy', 'bcrypt'], ['bcb', 'bcrypt'], ['uapr', 'apr1'], ['usha', 'sha1'], ['ubcy', 'bcrypt'], ['ubcb', 'bcrypt'],
    ])
    expect(users.get('bcb')?.hash).toBe(vectors.ascii.bcrypt2b)
  })

  it.each(['apr', 'sha', 'bcy', 'bcb', 'uapr', 'usha', 'ubcy', 'ubcb'])('%s: the right password matches, a wrong one does not', async (user) => {
    const entry = users.get(user)!
    const password = user.startsWith('u') ? vectors.utf8.password : vectors.ascii.password
    expect(await verifyPassword(password, entry)).toBe(true)
    expect(await verifyPassword(`${password}x`, entry)).toBe(false)
    expect(await verifyPassword(password.slice(0, -1), entry)).toBe(false)
  })

  it('apr1 hashes the UTF-8 bytes (apache-md5 alone would hash the low byte of each character)', async () => {
    expect(await verifyPassword('p\u00e4ssw\u00f6rd', users.get('uapr')!)).toBe(true)
    // The same code units' low bytes, which apache-md5 would have hashed without the conversion:
    expect(await verifyPassword(Buffer.from('pässwörd', 'latin1').toString('utf8'), users.get('uapr')!)).toBe(false)
  })

  it.each([
    ['crypt DES', 'u:ab05OlHG7OtL.', /line 1: the password of "u" is not a bcrypt, \{SHA\} or apr1 hash/],
    ['SHA-512 crypt', 'u:$6$saltsalt$HGAdSvaTG14PPvwfhGhrdGy5EPsfNi91ygMfWT5ZMKTNrKBzpn9PUKu1.TGgYkxQbJ1EY75BsW2IILXUcJJCC1', /not a bcrypt, \{SHA\} or apr1 hash/],
    ['plain text', 'u:hunter2-plain', /not a bcrypt/],
    ['a truncated bcrypt', `u:${vectors.ascii.bcrypt2y.slice(0, -1)}`, /not a bcrypt/],
    ['no colon', 'justauser', /line 1: not "user:hash"/],
    ['an empty user', `:${vectors.ascii.sha}`, /line 1: not "user:hash"/],
    ['a user twice', `a:${vectors.ascii.sha}\na:${vectors.ascii.apr1}`, /line 2: "a" is listed twice/],
    ['no users', '# nobody\n\n', /no users in it/],
  ])('refuses %s, never quoting the hash', (_name, text, message) => {
    let err: Error | undefined
    try {
      parseHtpasswd(text, 'users.htpasswd')
    } catch (e) {
      err = e as Error
    }
    expect(err?.message).toMatch(message)
    expect(err?.message).not.toContain('hunter2')
    expect(err?.message).not.toContain('$6$saltsalt')
  })
})

describe('normalizeSiteAuth', () => {
  const base: SiteAuthInput = { host: 'example.com', cwd: '/srv/site', authBasic: 'users.htpasswd' }
  it.each([
    ['the whole site, realm from the host', {}, { userFile: '/srv/site/users.htpasswd', realm: 'example.com', prefixes: [], exact: [] }],
    ['prefixes sorted and unique; a /v2/ prefix protects the /v2/ base and catalog too', { authPath: ['/v2/private/', '/oci-index/private', '/v2/private/'] }, { userFile: '/srv/site/users.htpasswd', realm: 'example.com', prefixes: ['/oci-index/private', '/v2/private/'], exact: ['/v2', '/v2/', '/v2/_catalog'] }],
    ['no /v2/ prefix: the /v2/ base stays open', { authPath: ['/oci-index/private'] }, { userFile: '/srv/site/users.htpasswd', realm: 'example.com', prefixes: ['/oci-index/private'], exact: [] }],
    ['"/" is the whole site', { authPath: ['/v2/x/', '/'] }, { userFile: '/srv/site/users.htpasswd', realm: 'example.com', prefixes: [], exact: [] }],
    ['a realm of one\'s own, an absolute file', { authRealm: 'Private OCI', authBasic: '/etc/ocisite/users' }, { userFile: '/etc/ocisite/users', realm: 'Private OCI', prefixes: [], exact: [] }],
  ])('%s', (_name, extra, want) => {
    expect(normalizeSiteAuth({ ...base, ...extra })).toEqual(want)
  })

  it('no --auth-basic: off', () => {
    expect(normalizeSiteAuth({ host: 'example.com' })).toBeUndefined()
  })

  it.each([
    ['--auth-path without --auth-basic', { authBasic: undefined, authPath: ['/v2/x/'] }, /--auth-path needs --auth-basic FILE/],
    ['a relative prefix', { authPath: ['v2/private/'] }, /--auth-path "v2\/private\/": a prefix starts with "\/"/],
    ['a prefix climbing out', { authPath: ['/v2/../oci-cas/'] }, /no "\/\/", "\." or "\.\." segments/],
    ['a prefix with "//"', { authPath: ['/v2//x'] }, /no "\/\/"/],
    ['a prefix with a regex or nginx character', { authPath: ['/v2/(a|b)/'] }, /a prefix starts with/],
    ['a prefix with "$"', { authPath: ['/v2/$uri'] }, /a prefix starts with/],
    ['a realm with a quote', { authRealm: 'my "site"' }, /--auth-realm/],
    ['a realm with "$"', { authRealm: 'cost $5' }, /--auth-realm/],
    ['the realm "off" (nginx would switch authentication off)', { authRealm: 'Off' }, /and not "off"/],
    ['a realm with a newline', { authRealm: 'a\nb' }, /--auth-realm/],
  ])('refuses %s', (_name, extra, message) => {
    expect(() => normalizeSiteAuth({ ...base, ...extra })).toThrow(message)
  })
})

describe('the nginx partial', () => {
  const render = async (auth: SiteAuth | undefined, acme = false) => {
    const hbs = Handlebars.create()
    await registerAuthPartial(hbs)
    const main = 'server {\n    {{> nginx-auth server=true}}\n{{#each routes}}\n    location ~ "{{this.pattern}}" {\n        {{> nginx-auth location=true v2=this.v2}}\n        try_files $uri =404;\n    }\n{{/each}}\n}\n'
    const routes = siteRoutes({ v2: true }).filter((r) => r.id === 'oci-index' || r.id === 'v2-manifest-tag')
    return hbs.compile(main, { noEscape: true, strict: true })({ auth: nginxAuthContext(auth, { acme }), routes })
  }
  const auth = (extra: Partial<SiteAuthInput> = {}) => normalizeSiteAuth({ host: 'example.com', cwd: '/srv', authBasic: 'users', ...extra })

  it('renders nothing without authentication', async () => {
    expect(await render(undefined)).not.toMatch(/auth|401/)
  })

  it('prefixes: off by default, on for the prefixes; each route names its 401 answer', async () => {
    const conf = await render(auth({ authPath: ['/v2/private/', '/oci-index/private.x'] }))
    expect(conf).toContain('    # HTTP Basic authentication (--auth-basic) for /v2, /v2/, /v2/_catalog, /oci-index/private.x*, /v2/private/*.\n')
    expect(conf).toContain('    set $ocisite_auth off;\n    if ($uri ~ "^(/v2$|/v2/$|/v2/_catalog$|/oci-index/private\\.x|/v2/private/)") {\n        set $ocisite_auth "example.com";\n    }\n')
    expect(conf).toContain('    auth_basic $ocisite_auth;\n    auth_basic_user_file "/srv/users";\n    # A location with an error_page of its own inherits none: each route names its 401 answer too.\n    error_page 401 = @ocisite_auth_required;\n')
    expect(conf).toContain(`return 401 '${UNAUTHORIZED_BODY}';`)
    expect(conf).toContain('return 401 "authentication required\\n";')
    expect(conf).toMatch(/location ~ "\^\/oci-index\/\(\.\+\)\$" \{\n {8}error_page 401 = @ocisite_auth_required;\n/)
    expect(conf).toMatch(/location ~ "\^\/v2\/\(\.\+\)\/manifests\/[^"]+" \{\n {8}error_page 401 = @ocisite_UNAUTHORIZED;\n/)
    expect(conf).not.toMatch(/[ \t]$/m) // no trailing blanks from the partial's indentation
  })

  it.each([
    [false, false],
    [true, true],
  ])('the whole site, ACME %s: the challenge path stays open %s', async (acme, open) => {
    const conf = await render(auth(), acme)
    expect(conf).toContain('    set $ocisite_auth "example.com";\n')
    expect(conf.includes('if ($uri ~ "^/\\.well-known/acme-challenge/") {\n        set $ocisite_auth off;')).toBe(open)
  })

  it('refuses a user file nginx cannot take', () => {
    expect(() => nginxAuthContext(auth({ authBasic: '/srv/$users' }), { acme: false })).toThrow(/--auth-basic "\/srv\/\$users": nginx cannot take/)
  })
})

describe('the preview server guard', () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`
  const routes = siteRoutes({ v2: true })
  const prefixGuard = createAuthGuard(normalizeSiteAuth({ host: 'h', authBasic: 'f', authPath: ['/v2/private/', '/oci-index/private'], authRealm: 'Private' })!, users, routes)
  const wholeGuard = createAuthGuard(normalizeSiteAuth({ host: 'h.example', authBasic: 'f' })!, users, routes)
  const tag = '/v2/private/app/manifests/1.0'

  it.each([
    ['a public path, no credentials', prefixGuard, '/v2/public/app/manifests/1.0', undefined, undefined],
    ['a public index', prefixGuard, '/oci-index/public', undefined, undefined],
    ['the /v2/ base, pinged first by registry clients', prefixGuard, '/v2/', undefined, 'json'],
    ['the catalog, which names private repositories', prefixGuard, '/v2/_catalog', undefined, 'json'],
    ['a private tag, no credentials', prefixGuard, tag, undefined, 'json'],
    ['percent-encoding does not slip past', prefixGuard, '/v2/%70rivate/app/manifests/1.0', undefined, 'json'],
    ['dot segments do not slip past', prefixGuard, '/v2/public/../private/app/manifests/1.0', undefined, 'json'],
    ['a private index, no credentials: text', prefixGuard, '/oci-index/private', undefined, 'text'],
    ['a wrong password', prefixGuard, tag, basic('bcy', 'nope'), 'json'],
    ['an unknown user', prefixGuard, tag, basic('mallory', vectors.ascii.password), 'json'],
    ['not Basic', prefixGuard, tag, 'Bearer abc', 'json'],
    ['Basic without a colon', prefixGuard, tag, `Basic ${Buffer.from('nocolon').toString('base64')}`, 'json'],
    ['apr1', prefixGuard, tag, basic('apr', vectors.ascii.password), undefined],
    ['{SHA}', prefixGuard, tag, basic('sha', vectors.ascii.password), undefined],
    ['bcrypt $2y$', prefixGuard, tag, basic('bcy', vectors.ascii.password), undefined],
    ['bcrypt, UTF-8 password', prefixGuard, tag, basic('ubcb', vectors.utf8.password), undefined],
    ['lower-case scheme', prefixGuard, tag, basic('sha', vectors.ascii.password).replace('Basic', 'basic'), undefined],
    ['whole site: discovery needs credentials too (text)', wholeGuard, '/.well-known/oci-host-ref-engines', undefined, 'text'],
    ['whole site: a path no route serves passes to the 404 (as nginx\'s catch-all)', wholeGuard, '/nothing/here', undefined, undefined],
    ['whole site: a malformed path passes to the 400', wholeGuard, '/%E0%A4%A', undefined, undefined],
    ['whole site: /v2/ base (JSON)', wholeGuard, '/v2/', undefined, 'json'],
    ['whole site: with credentials', wholeGuard, '/v2/', basic('apr', vectors.ascii.password), undefined],
  ] as const)('%s', async (_name, guard, url, authorization, refused) => {
    const answer = await guard({ url, headers: { authorization } })
    if (refused === undefined) {
      expect(answer).toBeUndefined()
      return
    }
    expect(answer?.status).toBe(401)
    const realm = guard === prefixGuard ? 'Private' : 'h.example'
    expect(answer?.headers['WWW-Authenticate']).toBe(`Basic realm="${realm}"`)
    expect(answer?.headers['Cache-Control']).toBe('no-store')
    if (refused === 'json') {
      expect(answer?.headers['Content-Type']).toBe('application/json')
      expect(answer?.headers['Docker-Distribution-API-Version']).toBe('registry/2.0')
      expect(JSON.parse(answer!.body)).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] })
    } else {
      expect(answer?.headers['Content-Type']).toBe('text/plain')
      expect(answer?.body).toBe('authentication required\n')
    }
  })

  it('a second request with the same credentials is answered from memory, a changed password is not', async () => {
    const guard = createAuthGuard(normalizeSiteAuth({ host: 'h', authBasic: 'f' })!, users, routes)
    expect(await guard({ url: '/v2/', headers: { authorization: basic('bcb', vectors.ascii.password) } })).toBeUndefined()
    expect(await guard({ url: '/v2/', headers: { authorization: basic('bcb', vectors.ascii.password) } })).toBeUndefined()
    expect((await guard({ url: '/v2/', headers: { authorization: basic('bcb', `${vectors.ascii.password}!`) } }))?.status).toBe(401)
  })

  it.each([
    ['Basic YWxpY2U6cDpx', { user: 'alice', password: 'p:q' }],
    ['basic   YWxpY2U6', { user: 'alice', password: '' }],
    ['Basic', undefined],
    ['Basic !!!', undefined],
    ['Digest username="a"', undefined],
  ])('parseBasicAuthorization(%j)', (header, want) => {
    expect(parseBasicAuthorization(header)).toEqual(want)
  })
})

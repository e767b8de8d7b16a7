import { describe, expect, it } from 'vitest'
import { netrcEntryFor, parseNetrc, type NetrcEntry } from '../../src/client/credentials/netrc.js'

describe('parseNetrc', () => {
  const cases: Array<[string, string, NetrcEntry[]]> = [
    ['one line', 'machine a.example login u password p', [{ machine: 'a.example', login: 'u', password: 'p' }]],
    ['unindented lines (netrc-parser loses these)', 'machine a.example\nlogin u\npassword p\n', [{ machine: 'a.example', login: 'u', password: 'p' }]],
    ['indented with tabs, CRLF', 'machine a.example\r\n\tlogin u\r\n\tpassword p\r\n', [{ machine: 'a.example', login: 'u', password: 'p' }]],
    ['several machines and account', 'machine a login ua password pa account x\nmachine b login ub password pb', [{ machine: 'a', login: 'ua', password: 'pa', account: 'x' }, { machine: 'b', login: 'ub', password: 'pb' }]],
    ['machine names are case-insensitive', 'machine A.Example login u password p', [{ machine: 'a.example', login: 'u', password: 'p' }]],
    ['comments, whole line and after a token', '# a comment\nmachine a login u # note\npassword p\n', [{ machine: 'a', login: 'u', password: 'p' }]],
    ['"#" inside a token is part of it', 'machine a login u password p#ss', [{ machine: 'a', login: 'u', password: 'p#ss' }]],
    ['a quoted password with spaces and escapes', 'machine a login u password "p a\\"ss\\\\w\\tord"', [{ machine: 'a', login: 'u', password: 'p a"ss\\w\tord' }]],
    ['a quoted empty password', 'machine a login u password ""', [{ machine: 'a', login: 'u', password: '' }]],
    ['default entry', 'machine a login u password p\ndefault login anon password x', [{ machine: 'a', login: 'u', password: 'p' }, { machine: undefined, login: 'anon', password: 'x' }]],
    ['a macdef body is skipped up to the empty line, quotes and all', 'machine a login u password p\nmacdef init\ncd "/pub\nmachine evil login e password e\n\nmachine b login ub password pb\n', [{ machine: 'a', login: 'u', password: 'p' }, { machine: 'b', login: 'ub', password: 'pb' }]],
    ['unknown words are skipped', 'machine a port 21 login u password p', [{ machine: 'a', login: 'u', password: 'p' }]],
    ['login before any machine is ignored', 'login stray password stray\nmachine a login u password p', [{ machine: 'a', login: 'u', password: 'p' }]],
    ['empty file', '', []],
  ]
  it.each(cases)('%s', (_name, text, want) => {
    expect(parseNetrc(text)).toEqual(want)
  })

  it.each([
    ['an unclosed quote', 'machine a\nlogin u\npassword "open', /^\.netrc line 3: a quoted string is not closed$/],
    ['a backslash at the end of a quote', 'machine a password "x\\', /^\.netrc line 1: a quoted string is not closed$/],
    ['a keyword without a value', 'machine a login u password', /^\.netrc line 1: "password" has no value$/],
  ])('refuses %s, naming the line but not the value', (_name, text, message) => {
    expect(() => parseNetrc(text)).toThrow(message)
  })
})

describe('netrcEntryFor', () => {
  const entries = parseNetrc('machine a.example login ua password pa\nmachine a.example login second password no\nmachine ::1 login six password p6\ndefault login anon password x')
  it.each([
    ['the first entry for the host wins', 'a.example', 'ua'],
    ['case-insensitive', 'A.EXAMPLE', 'ua'],
    ['an IPv6 host in brackets (URL.hostname)', '[::1]', 'six'],
    ['another host gets the default entry', 'b.example', 'anon'],
  ])('%s', (_name, host, login) => {
    expect(netrcEntryFor(entries, host)?.login).toBe(login)
  })
  it('no default entry: undefined', () => {
    expect(netrcEntryFor(parseNetrc('machine a login u password p'), 'b')).toBeUndefined()
  })
})

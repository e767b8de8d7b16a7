import { describe, expect, it } from 'vitest'
import { tagFromRefName } from '../src/oci/descriptor.js'
import { parseDigest } from '../src/oci/digest.js'
import { parseImageName } from '../src/oci/image-name.js'
import { checkImagePath, checkTag } from '../src/oci/names.js'
import { normalizeUriPath } from '../src/site/serve/route-resolver.js'
import { unsafeEntryReason } from '../src/fs/tar-safety.js'
import { absoluteTemplate, expandUri } from '../src/oci/engines.js'
import { hostAndAncestors } from '../src/client/discovery.js'
import { matchXdg } from '../src/client/xdg.js'
import { parsePlatform } from '../src/oci/platform.js'

describe('host-based image names', () => {
  it.each([
    ['a.b.example.com/c/d#1.0', 'a.b.example.com', 'c/d', '1.0', 'reg-name'],
    ['example.com/app#1.0', 'example.com', 'app', '1.0', 'reg-name'],
    ['example.com/org/app', 'example.com', 'org/app', '', 'reg-name'],
    ['Example.COM/app#v1', 'example.com', 'app', 'v1', 'reg-name'],
    ['127.0.0.1/app#x', '127.0.0.1', 'app', 'x', 'ipv4'],
    ['[::1]/app#x', '[::1]', 'app', 'x', 'ipv6'],
    ['[2001:db8::7]/a/b', '[2001:db8::7]', 'a/b', '', 'ipv6'],
    ['localhost/app#', 'localhost', 'app', '', 'reg-name'],
  ])('%s', (name, host, path, fragment, hostKind) => {
    expect(parseImageName(name)).toEqual({ name, host, path, fragment, hostKind })
  })

  it.each([
    ['example.com', 'no path'],
    ['example.com/', 'path is empty'],
    ['example.com//app', 'path is empty'],
    ['example.com:8080/app', 'has a port'],
    ['/app', 'host is empty'],
    ['exa_mple.com/app', 'invalid label "exa_mple"'],
    ['[::g]/app', 'not a valid bracketed IPv6'],
    ['example.com/a b', 'path segment "a b"'],
    ['example.com/app#a b', 'fragment "a b"'],
  ])('rejects %s saying what is wrong', (name, message) => {
    expect(() => parseImageName(name)).toThrow(message)
  })
})

describe('digests', () => {
  it.each([
    ['sha256:' + 'a'.repeat(64), true],
    ['sha512:' + 'b'.repeat(128), true],
    ['sha256:' + 'A'.repeat(64), false],
    ['sha256:' + 'a'.repeat(63), false],
    ['md5:' + 'a'.repeat(32), false],
    ['sha256-' + 'a'.repeat(64), false],
    ['', false],
  ])('%s valid=%s', (text, valid) => {
    if (valid) expect(parseDigest(text).value).toBe(text)
    else expect(() => parseDigest(text)).toThrow(/malformed digest|missing/)
  })
})

describe('ref.name to tag', () => {
  it.each([
    ['1.0', '1.0'],
    ['ghcr.io/org/app:1.0', '1.0'],
    ['localhost:5000/app:v2', 'v2'],
    ['docker.io/library/alpine:3.20', '3.20'],
  ])('%s → %s', (ref, tag) => expect(tagFromRefName(ref, 'index.json')).toBe(tag))

  it.each(['../../../etc/cron.d/evil', 'foo/bar', 'app:', ':1.0', 'Upper/App:1.0', 'a b', '.hidden', '-dash'])('refuses %s, naming it', (ref) =>
    expect(() => tagFromRefName(ref, 'index.json')).toThrow(`ref name "${ref}"`),
  )
})

describe('image paths and tags as URI segments', () => {
  it.each(['app', 'org/app', 'a.b/c_d/e--f', 'x1/y__z'])('accepts path %s', (p) => expect(checkImagePath(p, 't')).toBe(p))
  it.each(['', '..', 'a/../b', 'a//b', '/a', 'a/', 'App', 'a/.b', '-a'])('rejects path %j', (p) => expect(() => checkImagePath(p, 't')).toThrow(/image path/))
  it.each(['1.0', 'latest', 'v1.2.3-rc_1', '_x', 'A'.repeat(128)])('accepts tag %s', (t) => expect(checkTag(t, 't')).toBe(t))
  it.each(['', '.', '..', '.x', '-x', 'a/b', 'a:b', 'A'.repeat(129)])('rejects tag %j', (t) => expect(() => checkTag(t, 't')).toThrow(/tag/))
})

describe('request path normalisation (as nginx does it)', () => {
  it.each([
    ['/oci-index/org%2Fapp', '/oci-index/org/app'],
    ['/oci-index//app', '/oci-index/app'],
    ['/v2/', '/v2/'],
    ['/a/./b?x=1', '/a/b'],
    ['/a/../b', '/b'],
    ['/../etc/passwd', undefined],
    ['/%zz', undefined],
    ['/a%00b', undefined],
  ])('%s → %s', (raw, want) => expect(normalizeUriPath(raw)).toBe(want))
})

describe('tar entries', () => {
  it.each([
    ['blobs/sha256/ab', 'File', undefined, undefined],
    ['blobs/', 'Directory', undefined, undefined],
    ['../x', 'File', undefined, 'escapes'],
    ['/etc/x', 'File', undefined, 'escapes'],
    ['a/../../x', 'File', undefined, 'escapes'],
    ['blobs/l', 'SymbolicLink', '/etc/passwd', 'symlink'],
    // Symlinks that stay inside are recorded, not created (docker archives' legacy layer links).
    ['abc/layer.tar', 'SymbolicLink', '../x.tar', undefined],
    ['./abc/layer.tar', 'SymbolicLink', '../blobs/sha256/ab', undefined],
    ['abc/layer.tar', 'SymbolicLink', '../../x.tar', 'symlink out of the archive'],
    ['abc/layer.tar', 'SymbolicLink', '/x.tar', 'symlink out of the archive'],
    ['abc/layer.tar', 'SymbolicLink', '..\\..\\x.tar', 'symlink out of the archive'],
    ['link', 'SymbolicLink', '', 'symlink out of the archive'],
    ['blobs/sha256/ab', 'SymbolicLink', '../../x.tar', 'a layout holds only regular files'],
    ['./index.json', 'SymbolicLink', 'manifest.json', 'a layout holds only regular files'],
    ['blobs/h', 'Link', '../../etc/passwd', 'hard link out'],
    ['blobs/h', 'Link', 'blobs/sha256/ab', undefined],
    ['dev', 'CharacterDevice', undefined, 'CharacterDevice'],
  ])('%s (%s)', (p, type, link, reason) => {
    const got = unsafeEntryReason(p, type, link)
    if (reason === undefined) expect(got).toBeUndefined()
    else expect(got).toContain(reason)
  })
})

describe('URI templates (RFC 6570 through url-template)', () => {
  const digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
  const cas = { digest, algorithm: 'sha256', encoded: digest.slice(7) }
  it.each([
    ['/oci-cas/{algorithm}/{encoded:2}/{encoded}', cas, 'https://example.com/.well-known/oci-host-ref-engines', `https://example.com/oci-cas/sha256/e3/${digest.slice(7)}`],
    ['/oci-index/{path}', { path: 'org/app' }, 'https://example.com/.well-known/oci-host-ref-engines', 'https://example.com/oci-index/org%2Fapp'],
    ['/oci-index/{+path}', { path: 'org/app' }, 'https://example.com/.well-known/oci-host-ref-engines', 'https://example.com/oci-index/org/app'],
    ['index/{path}', { path: 'app' }, 'https://example.com/.well-known/oci-host-ref-engines', 'https://example.com/.well-known/index/app'],
    ['https://cdn.example.net/{host}/{path}#{fragment}', { host: 'a.b.example.com', path: 'c/d', fragment: '1.0' }, 'https://x/', 'https://cdn.example.net/a.b.example.com/c%2Fd#1.0'],
    ['/by-name{?name}', { name: 'example.com/app#1.0' }, 'http://h:8080/x', 'http://h:8080/by-name?name=example.com%2Fapp%231.0'],
  ])('%s', (template, vars, base, want) => expect(expandUri(template, vars, base)).toBe(want))

  it.each([
    ['/oci-cas/{algorithm}/{encoded:2}/{encoded}', 'http://localhost:8080/.well-known/oci-host-ref-engines', 'http://localhost:8080/oci-cas/{algorithm}/{encoded:2}/{encoded}'],
    ['../cas/{digest}', 'https://h/a/b/index', 'https://h/a/cas/{digest}'],
    ['https://other/{encoded}', 'https://h/', 'https://other/{encoded}'],
  ])('absolute form of %s', (template, base, want) => expect(absoluteTemplate(template, base)).toBe(want))
})

describe('DNS ancestors', () => {
  it.each([
    ['a.b.example.com', 'reg-name', ['a.b.example.com', 'b.example.com', 'example.com']],
    ['example.com', 'reg-name', ['example.com']],
    ['a.b.localhost', 'reg-name', ['a.b.localhost', 'b.localhost']],
    ['localhost', 'reg-name', ['localhost']],
    ['10.0.0.1', 'ipv4', ['10.0.0.1']],
    ['[::1]', 'ipv6', ['[::1]']],
  ] as const)('%s', (host, hostKind, want) => expect(hostAndAncestors({ host, hostKind })).toEqual(want))
})

describe('regexp ref-engines: preference', () => {
  const entries = (keys: string[]) => new Map(keys.map((k) => [k, { file: 'f', value: { refEngines: [{ protocol: 'p', uri: k }] } }]))
  it.each([
    [['.*', 'example\\.com/.*'], 'example.com/app#1', 'example\\.com/.*'],
    [['example\\.com/.*', 'example\\.com/a.*'], 'example.com/app', 'example\\.com/a.*'],
    [['b.*', 'a.*'], 'ab', 'a.*'], // equal length: the one that sorts first in the POSIX locale
    [['Z.*', 'a.*'], 'Za', 'Z.*'], // uppercase sorts before lowercase in POSIX
    [['example\\.com/.*'], 'other.com/app', undefined],
    [['app'], 'example.com/app', undefined], // the whole name must match
  ])('%j matching %s → %s', (keys, name, want) => expect(matchXdg(name, entries(keys))?.key).toBe(want))
})

describe('platforms', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ])('%s', (text, want) => expect(parsePlatform(text)).toEqual(want))
  it.each(['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/arm/'])('rejects %j', (text) => expect(() => parsePlatform(text)).toThrow(/OS\/ARCH/))
})

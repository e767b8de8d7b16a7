import { describe, expect, it } from 'vitest'
import { tagFromRefName } from '../src/oci/descriptor.js'
import { parseDigest } from '../src/oci/digest.js'
import { parseImageName } from '../src/oci/image-name.js'
import { checkImagePath, checkTag } from '../src/site/names.js'
import { normalizeUriPath } from '../src/site/route-resolver.js'
import { unsafeEntryReason } from '../src/oci/archive.js'

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
  ])('%s → %s', (ref, tag) => expect(tagFromRefName(ref)).toBe(tag))
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
    ['blobs/h', 'Link', '../../etc/passwd', 'hard link out'],
    ['blobs/h', 'Link', 'blobs/sha256/ab', undefined],
    ['dev', 'CharacterDevice', undefined, 'CharacterDevice'],
  ])('%s (%s)', (p, type, link, reason) => {
    const got = unsafeEntryReason(p, type, link)
    if (reason === undefined) expect(got).toBeUndefined()
    else expect(got).toContain(reason)
  })
})

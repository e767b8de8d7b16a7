import { describe, expect, it } from 'vitest'
import { identityMatches, parseSignedIdentity, type SignedIdentity } from '../../src/sign/policy/identity.js'
import { parseDockerReference, scopesOf, type DockerReference } from '../../src/sign/reference.js'

const D = `sha256:${'a'.repeat(64)}`
const tag = (name: string, t: string): DockerReference => ({ name, tag: t })
const dig = (name: string): DockerReference => ({ name, digest: D })

const exact: SignedIdentity = { type: 'matchExact' }
const repoDigestOrExact: SignedIdentity = { type: 'matchRepoDigestOrExact' }
const repository: SignedIdentity = { type: 'matchRepository' }
const exactRef: SignedIdentity = { type: 'exactReference', dockerReference: 'example.com/ns/app:1.0' }
const exactRepo: SignedIdentity = { type: 'exactRepository', dockerRepository: 'example.com/ns/app' }
const remap: SignedIdentity = { type: 'remapIdentity', prefix: 'mirror.local/ns', signedPrefix: 'example.com/ns' }

// The semantics of containers/image's signature/policy_reference_match.go, case by case.
describe('signedIdentity rules match as containers/image does', () => {
  it.each<[string, SignedIdentity, DockerReference, string, boolean]>([
    ['matchExact: same tag', exact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app:1.0', true],
    ['matchExact: other tag', exact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app:2.0', false],
    ['matchExact: a repository-only claim', exact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app', false],
    ['matchExact: same digest', exact, dig('example.com/ns/app'), `example.com/ns/app@${D}`, true],
    ['matchExact: a digest fetch against a tag claim', exact, dig('example.com/ns/app'), 'example.com/ns/app:1.0', false],
    ['matchExact: short names are expanded', exact, tag('docker.io/library/busybox', 'latest'), 'busybox:latest', true],
    ['matchRepoDigestOrExact: same tag', repoDigestOrExact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app:1.0', true],
    ['matchRepoDigestOrExact: other tag', repoDigestOrExact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app:2.0', false],
    ['matchRepoDigestOrExact: other host', repoDigestOrExact, tag('example.com/ns/app', '1.0'), 'example.org/ns/app:1.0', false],
    ['matchRepoDigestOrExact: a repository-only claim (cosign) on a tag', repoDigestOrExact, tag('example.com/ns/app', '1.0'), 'example.com/ns/app', false],
    ['matchRepoDigestOrExact: a digest fetch, any tag of the repository', repoDigestOrExact, dig('example.com/ns/app'), 'example.com/ns/app:9.9', true],
    ['matchRepoDigestOrExact: a digest fetch, other repository', repoDigestOrExact, dig('example.com/ns/app'), 'example.com/ns/other:1.0', false],
    ['matchRepoDigestOrExact: a digest fetch, a repository-only claim', repoDigestOrExact, dig('example.com/ns/app'), 'example.com/ns/app', false],
    ['matchRepository: other tag', repository, tag('example.com/ns/app', 'latest'), 'example.com/ns/app:1.0', true],
    ['matchRepository: a repository-only claim (cosign)', repository, tag('example.com/ns/app', '1.0'), 'example.com/ns/app', true],
    ['matchRepository: other repository', repository, tag('example.com/ns/app', '1.0'), 'example.com/ns/app2:1.0', false],
    ['matchRepository: host with a port is part of the name', repository, tag('localhost:5000/app', '1.0'), 'localhost/app:1.0', false],
    ['exactReference: the named reference, whatever was fetched', exactRef, tag('mirror.local/app', 'latest'), 'example.com/ns/app:1.0', true],
    ['exactReference: another tag', exactRef, tag('example.com/ns/app', '2.0'), 'example.com/ns/app:2.0', false],
    ['exactReference: a repository-only claim', exactRef, tag('example.com/ns/app', '1.0'), 'example.com/ns/app', false],
    ['exactRepository: any tag of the named repository', exactRepo, tag('mirror.local/app', 'latest'), 'example.com/ns/app:7', true],
    ['exactRepository: a repository-only claim', exactRepo, tag('mirror.local/app', 'latest'), 'example.com/ns/app', true],
    ['exactRepository: another repository', exactRepo, tag('example.com/ns/app', '1.0'), 'example.com/ns/other:1.0', false],
    ['remapIdentity: the prefix is replaced', remap, tag('mirror.local/ns/app', '1.0'), 'example.com/ns/app:1.0', true],
    ['remapIdentity: the unmapped name no longer matches', remap, tag('mirror.local/ns/app', '1.0'), 'mirror.local/ns/app:1.0', false],
    ['remapIdentity: the tag still must match', remap, tag('mirror.local/ns/app', '1.0'), 'example.com/ns/app:2.0', false],
    ['remapIdentity: a digest fetch accepts any tag', remap, dig('mirror.local/ns/app'), 'example.com/ns/app:2.0', true],
    ['remapIdentity: prefixes match whole segments only', remap, tag('mirror.local/nsx/app', '1.0'), 'example.comx/app:1.0', false],
    ['remapIdentity: outside the prefix, matchRepoDigestOrExact', remap, tag('mirror.local/nsx/app', '1.0'), 'mirror.local/nsx/app:1.0', true],
    ['any rule: a claim that is no reference', repository, tag('example.com/ns/app', '1.0'), 'Not A Reference', false],
  ])('%s', (_name, rule, intended, signed, want) => {
    expect(identityMatches(rule, intended, signed)).toBe(want)
  })
})

describe('signedIdentity objects are validated', () => {
  it.each<[unknown, string]>([
    [{ type: 'matchSomething' }, 'unknown signedIdentity type "matchSomething"'],
    [{ type: 'matchExact', extra: 1 }, 'unknown field "extra"'],
    [{ type: 'exactReference', dockerReference: 'example.com/app' }, 'is not a reference with a tag or digest'],
    [{ type: 'exactReference' }, 'is not a reference with a tag or digest'],
    [{ type: 'exactRepository', dockerRepository: 'Bad Repo' }, 'is not a repository'],
    [{ type: 'remapIdentity', prefix: 'example.com/ns:1.0', signedPrefix: 'example.org' }, 'remapIdentity.prefix'],
    [{ type: 'remapIdentity', prefix: 'example.com' }, 'remapIdentity.signedPrefix'],
    ['matchExact', 'signedIdentity is not an object'],
  ])('%j is refused', (value, message) => {
    expect(() => parseSignedIdentity(value, 'policy.json: default[0]')).toThrow(message)
  })

  it('absent means matchRepoDigestOrExact', () => {
    expect(parseSignedIdentity(undefined, 'x')).toEqual({ type: 'matchRepoDigestOrExact' })
  })
})

describe('docker references are normalised as docker does', () => {
  it.each<[string, DockerReference | undefined]>([
    ['busybox', { name: 'docker.io/library/busybox' }],
    ['busybox:1.36', { name: 'docker.io/library/busybox', tag: '1.36' }],
    ['org/app', { name: 'docker.io/org/app' }],
    ['index.docker.io/org/app:1', { name: 'docker.io/org/app', tag: '1' }],
    ['localhost/app:1.0', { name: 'localhost/app', tag: '1.0' }],
    ['localhost:5000/ns/app', { name: 'localhost:5000/ns/app' }],
    [`example.com/app@${D}`, { name: 'example.com/app', digest: D }],
    ['example.com/App:1', undefined],
    ['example.com/app:', undefined],
    ['a'.repeat(64), undefined],
  ])('%s', (text, want) => {
    expect(parseDockerReference(text)).toEqual(want)
  })

  it('scopes go from the reference to the host, then to *. wildcards without the port', () => {
    expect(scopesOf({ name: 'reg.example.com:5000/ns/app', tag: '1.0' })).toEqual([
      'reg.example.com:5000/ns/app:1.0',
      'reg.example.com:5000/ns/app',
      'reg.example.com:5000/ns',
      'reg.example.com:5000',
      '*.example.com',
      '*.com',
    ])
  })
})

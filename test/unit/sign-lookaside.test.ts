import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { lookasidePath, lookasideUrl, parseLookasidePath } from '../../src/sign/lookaside.js'
import { type DockerReference } from '../../src/sign/reference.js'
import { lookasideFor, parseRegistriesD, readRegistriesD } from '../../src/sign/registries-d.js'

const HEX = 'c'.repeat(64)
const D = `sha256:${HEX}`

describe('the lookaside layout', () => {
  it.each<[string, { repository: string; digest: string; index: number } | undefined]>([
    [`app@sha256=${HEX}/signature-1`, { repository: 'app', digest: D, index: 1 }],
    [`org/team/app@sha256=${HEX}/signature-12`, { repository: 'org/team/app', digest: D, index: 12 }],
    [`app@sha256=${HEX}/manifest.json`, undefined],
    ['README', undefined],
  ])('%s', (rel, want) => {
    expect(parseLookasidePath(rel)).toEqual(want)
    if (want) expect(lookasidePath(want)).toBe(rel)
  })

  it.each([
    [`../app@sha256=${HEX}/signature-1`, 'repository segment ".."'],
    [`app@sha256=${'c'.repeat(63)}/signature-1`, 'sha256 needs 64 hex characters'],
    [`app@sha256=${HEX}/signature-0`, 'signature index "0"'],
    [`app@sha256=${HEX}/signature-01`, 'signature index "01"'],
  ])('%s is refused', (rel, message) => {
    expect(() => parseLookasidePath(rel)).toThrow(message)
  })

  it('URLs join the base and the path once', () => {
    expect(lookasideUrl('https://example.com/signatures/', { repository: 'ns/app', digest: D, index: 2 })).toBe(`https://example.com/signatures/ns/app@sha256=${HEX}/signature-2`)
  })
})

describe('registries.d', () => {
  const config = parseRegistriesD([
    {
      name: 'a.yaml',
      text: [
        'default-docker:',
        '  lookaside: file:///var/lib/containers/sigstore',
        'docker:',
        '  example.com:',
        '    lookaside: https://example.com/signatures',
        '  example.com/team:',
        '    lookaside: https://team.example.com/sigs',
        '    lookaside-staging: file:///srv/staging',
        '  example.com/team/quiet:',
        '    use-sigstore-attachments: true',
      ].join('\n'),
    },
    { name: 'b.yaml', text: 'docker:\n  "*.corp.example":\n    sigstore: https://sigs.corp.example/\n' },
  ])

  it.each<[string, DockerReference, boolean, string | undefined]>([
    ['the host', { name: 'example.com/app', tag: '1' }, false, 'https://example.com/signatures'],
    ['the longest matching namespace', { name: 'example.com/team/app', tag: '1' }, false, 'https://team.example.com/sigs'],
    ['staging when writing', { name: 'example.com/team/app', tag: '1' }, true, 'file:///srv/staging'],
    ['a scope without a lookaside falls through to its parent', { name: 'example.com/team/quiet', tag: '1' }, false, 'https://team.example.com/sigs'],
    ['a *. wildcard (legacy sigstore key)', { name: 'reg.corp.example/app', digest: D }, false, 'https://sigs.corp.example/'],
    ['default-docker otherwise', { name: 'other.example/app', tag: '1' }, false, 'file:///var/lib/containers/sigstore'],
  ])('%s', (_name, ref, write, url) => {
    expect(lookasideFor(config, ref, write)?.url).toBe(url)
  })

  it('no configuration gives no lookaside (the site default applies)', () => {
    expect(lookasideFor(parseRegistriesD([]), { name: 'example.com/app', tag: '1' })).toBeUndefined()
  })

  it.each([
    [[{ name: 'a.yaml', text: 'docker:\n  example.com:\n    lookaside: a' }, { name: 'b.yaml', text: 'docker:\n  example.com:\n    lookaside: https://x' }], 'a.yaml: docker.example.com.lookaside is not a URL'],
    [[{ name: 'a.yaml', text: 'docker:\n  example.com: {}' }, { name: 'b.yaml', text: 'docker:\n  example.com: {}' }], 'b.yaml: scope "example.com" is also defined in a.yaml'],
    [[{ name: 'a.yaml', text: 'default-docker: {}' }, { name: 'b.yaml', text: 'default-docker: {}' }], 'b.yaml: "default-docker" is also defined in a.yaml'],
    [[{ name: 'a.yaml', text: 'docker:\n  x:\n    lookaside: https://a\n    sigstore: https://b' }], 'a.yaml: docker.x has both lookaside and sigstore'],
    [[{ name: 'a.yaml', text: 'docker: [' }], 'a.yaml: invalid YAML'],
  ])('bad files are refused, naming the file: %#', (files, message) => {
    expect(() => parseRegistriesD(files)).toThrow(message)
  })

  it('a directory is read for its *.yaml files only; a missing one is empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocisite-registries-d-'))
    writeFileSync(join(dir, 'site.yaml'), 'docker:\n  example.com:\n    lookaside: https://example.com/signatures\n')
    writeFileSync(join(dir, 'ignored.yml'), 'docker: [')
    const read = await readRegistriesD(dir)
    expect(lookasideFor(read, { name: 'example.com/app', tag: '1' })).toEqual({ url: 'https://example.com/signatures', scope: 'example.com', file: join(dir, 'site.yaml') })
    expect((await readRegistriesD(join(dir, 'absent'))).docker.size).toBe(0)
  })
})

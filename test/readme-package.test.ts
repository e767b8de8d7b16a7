// What README says of the installed package holds for the package as installed from the npm pack
// tarball: the license it ships, and the --delete scope `deploy --help` names.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { installed, installedBin } from './helpers/installed.js'
import { readmePath } from './helpers/readme.js'

/** The code spans in parentheses after "own keys" in README's `--delete` bullet. */
function readmeDeleteScope(): string[] {
  const m = /\*\*`--delete`\*\*[^]*?own keys \(([^)]*)\)/.exec(readFileSync(readmePath, 'utf8'))
  return [...(m?.[1] ?? '').matchAll(/`([^`]+)`/g)].map((x) => x[1]!)
}

describe('the installed package, as README describes it', () => {
  it('ships LICENSE, the Apache License 2.0 text (as Debian has it), matching package.json\'s "license"', async () => {
    const pkgDir = path.join(path.dirname(path.dirname(await installedBin())), 'lib', 'node_modules', 'ocisite')
    const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { license: string }
    expect(pkg.license).toBe('Apache-2.0')
    const shipped = readFileSync(path.join(pkgDir, 'LICENSE'))
    expect(shipped.equals(readFileSync('/usr/share/common-licenses/Apache-2.0'))).toBe(true)
    expect(shipped.toString('utf8')).toContain('Apache License\n                           Version 2.0, January 2004')
  })

  it('deploy --help names the same --delete scope as README', async () => {
    const readme = readmeDeleteScope()
    expect(readme).toEqual(expect.arrayContaining(['.well-known/oci-host-ref-engines', 'oci-index/', 'oci-cas/', 'v2/']))
    const r = await installed(['deploy', '--help'])
    expect(r.code).toBe(0)
    const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith('--delete'))
    expect(line, r.stdout).toBeDefined()
    for (const key of readme) expect(line).toContain(key)
    const named = /own keys \(([^)]*)\)/.exec(line!)?.[1]?.split(', ')
    expect(named?.sort()).toEqual([...readme].sort())
  })
})

// The layers of src/ only point down (see .dependency-cruiser.cjs and README "Development"):
// dependency-cruiser checks every import, and a deliberate violation is caught.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser'
import { describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../..', import.meta.url))

async function violations(baseDir: string): Promise<IViolation[]> {
  const { default: config } = (await import(path.join(repo, '.dependency-cruiser.cjs'))) as { default: { forbidden: unknown[]; options: Record<string, unknown> } }
  const previous = process.cwd()
  process.chdir(baseDir)
  try {
    const result = await cruise(['src'], { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } } as never)
    return (result.output as ICruiseResult).summary.violations
  } finally {
    process.chdir(previous)
  }
}

const describeViolation = (v: IViolation) => `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`

describe('layers', () => {
  it('src/ has no cycle and no import that points up', async () => {
    expect((await violations(repo)).map(describeViolation)).toEqual([])
  }, 60_000)

  it.each([
    ['the OCI model importing the site', 'src/oci/upward.ts', "import { SiteLayout } from '../site/map.js'\nexport const x = SiteLayout\n", 'oci-is-the-model'],
    ['the content layer importing the client', 'src/content/upward.ts', "import { resolve } from '../client/resolve.js'\nexport const x = resolve\n", 'content-is-below-its-users'],
    ['the site importing the client', 'src/site/sideways.ts', "import { pull } from '../client/pull.js'\nexport const x = pull\n", 'publishers-and-consumers-are-peers'],
  ])('a deliberate violation is caught: %s', async (_, file, source, rule) => {
    const copy = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-layers-'))
    try {
      await fs.cp(path.join(repo, 'src'), path.join(copy, 'src'), { recursive: true })
      await fs.copyFile(path.join(repo, 'tsconfig.json'), path.join(copy, 'tsconfig.json'))
      await fs.symlink(path.join(repo, 'node_modules'), path.join(copy, 'node_modules'))
      await fs.writeFile(path.join(copy, file), source)
      const found = (await violations(copy)).map((v) => v.rule.name)
      expect(found).toContain(rule)
    } finally {
      await fs.rm(copy, { recursive: true, force: true })
    }
  }, 60_000)
})

// STYLE.md: short files, short functions. No function in src/ over 80 lines (a function's lines
// include the closures it defines) and no file over 350 lines; the test names every offender.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const MAX_FUNCTION_LINES = 80
const MAX_FILE_LINES = 350
const src = fileURLToPath(new URL('../../src', import.meta.url))

async function sources(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true })
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))))
  return nested.flat().sort()
}

interface Measured {
  where: string
  lines: number
}

/** Every function-like node with a body: its first line, its name, and how many lines it spans. */
export function functionsOf(file: string, text: string): Measured[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: Measured[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line
      const named = 'name' in node && node.name ? node.name : ts.isVariableDeclaration(node.parent) ? node.parent.name : undefined
      const name = named ? named.getText(sf) : '(anonymous)'
      found.push({ where: `${path.relative(path.dirname(src), file)}:${first + 1} ${name}`, lines: last - first + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return found
}

describe('size limits', () => {
  it('the measure sees a long function, a closure inside it, and a method', () => {
    const body = Array.from({ length: 90 }, (_, i) => `  const v${i} = ${i}`).join('\n')
    const text = `export function long() {\n${body}\n  const inner = () => 1\n  return inner()\n}\nclass C { m() { return 1 } }\n`
    const measured = functionsOf(path.join(src, 'x.ts'), text)
    expect(measured.map((m) => [m.where.replace(/^.*x\.ts:/, ''), m.lines])).toEqual([
      ['1 long', 94],
      ['92 inner', 1],
      ['95 m', 1],
    ])
  })

  it(`no function in src/ is over ${MAX_FUNCTION_LINES} lines, and no file over ${MAX_FILE_LINES}`, async () => {
    const longFunctions: string[] = []
    const longFiles: string[] = []
    for (const file of await sources(src)) {
      const text = await fs.readFile(file, 'utf8')
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
      if (lines > MAX_FILE_LINES) longFiles.push(`${path.relative(path.dirname(src), file)} (${lines} lines)`)
      for (const f of functionsOf(file, text)) if (f.lines > MAX_FUNCTION_LINES) longFunctions.push(`${f.where} (${f.lines} lines)`)
    }
    expect({ longFunctions, longFiles }).toEqual({ longFunctions: [], longFiles: [] })
  })
})

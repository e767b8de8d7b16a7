// The command line, in-process: every text flag of every command arrives exactly as typed, typos
// get the nearest flag, and build's options follow flag > ocisite.json > default.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOptions } from '../../src/cli/build.js'
import { Flags } from '../../src/cli/options.js'
import { createCli, parseCommandLine } from '../../src/cli/run.js'
import { normalizeBuildOptions } from '../../src/site/options.js'

const io = { stdout: new PassThrough(), stderr: new PassThrough() }
const parse = (args: string[]) => parseCommandLine(createCli(io), args)

/** Every option of every command that takes a value, as `[command, --flag, key]`. */
const textFlags = createCli(io).commands.flatMap((c) =>
  c.options.filter((o) => !o.isBoolean).map((o) => [c.name, /--[a-z0-9-]+/.exec(o.rawName)![0], o.name] as [string, string, string]),
)

describe('every text flag of every command keeps what was typed', () => {
  it('the table covers every command that has a text flag', () => {
    expect(new Set(textFlags.map(([c]) => c))).toEqual(new Set(['build', 'add', 'rm', 'prune', 'verify', 'deploy', 'resolve', 'pull', 'pack', 'get', 'lock', 'serve', 'ls', 'inspect']))
    expect(textFlags.length).toBeGreaterThan(40)
  })

  it.each(textFlags)('%s %s 1.10, %s=2.0 and repeated', (command, flag, key) => {
    expect(parse([command, flag, '1.10']).options[key]).toBe('1.10')
    expect(parse([command, `${flag}=2.0`]).options[key]).toBe('2.0')
    expect(parse([command, flag, '007', `${flag}=1e3`]).options[key]).toEqual(['007', '1e3'])
  })

  it.each([
    [['build', 'x', '--out', '1.10'], ['x']],
    [['pull', '--all-platforms', 'example.com/a#1', 'dest'], ['example.com/a#1', 'dest']],
    [['prune', '--dry-run', '--site', 's'], []],
    [['deploy', '--path-style', 'site', 's3://b'], ['site', 's3://b']],
  ])('booleans take no value: %j', (args, positionals) => {
    expect(parse(args).args).toEqual(positionals)
  })

  it('--no-x is false, --x is true, an absent one undefined', () => {
    expect(parse(['build', '--no-v2', '--no-wait', '--json']).options).toMatchObject({ v2: false, wait: false, json: true })
    expect(parse(['build']).options.v2).toBeUndefined()
  })
})

describe('mistakes on the command line', () => {
  it.each([
    [['build', '--hots', 'example.com'], 'unknown flag --hots; did you mean --host?'],
    [['build', '--tag', '1.0'], 'unknown flag --tag; did you mean --tags?'],
    [['serve', '--qiet'], 'unknown flag --qiet; did you mean --quiet?'],
    [['pull', '--platfrom', 'linux/amd64'], 'unknown flag --platfrom; did you mean --platform?'],
    [['rm', '--xyzzy'], 'unknown flag --xyzzy (see ocisite rm --help)'],
    [['build', '--no-out'], 'unknown flag --no-out'],
    [['build', '--out'], '--out needs a value'],
    [['build', '--out', '--json'], '--out needs a value (for one that starts with "-", write --out=--json)'],
    [['build', '--host', ''], '--host is empty; give it a value or leave it out'],
    [['build', '--json=maybe'], '--json takes no value'],
  ])('%j', (args, message) => {
    expect(() => parse(args)).toThrow(message)
  })
})

describe('build: flag > ocisite.json > default, in one place', () => {
  let dir: string
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-precedence-'))
    await fs.mkdir(path.join(dir, 'with'))
    await fs.writeFile(path.join(dir, 'with', 'ocisite.json'), JSON.stringify({ host: 'file.example', out: 'from-file', tags: ['1.*'], images: [{ from: 'l', tags: ['own'] }], v2: false }))
    await fs.mkdir(path.join(dir, 'without'))
  })
  afterAll(() => fs.rm(dir, { recursive: true, force: true }))

  const options = async (where: 'with' | 'without', args: string[]) => {
    const { args: inputs, options: raw } = parse(['build', ...args])
    return normalizeBuildOptions({ ...buildOptions(inputs, new Flags(raw)), cwd: path.join(dir, where) })
  }

  it.each([
    ['--out public beats "out", though public is the default', 'with', ['--out', 'public'], 'public'],
    ['--out 1.10 stays 1.10', 'with', ['--out', '1.10'], '1.10'],
    ['no --out: the file\'s "out"', 'with', [], 'from-file'],
    ['no --out, no file: the default', 'without', ['--host', 'h.example', 'l'], 'public'],
  ] as const)('out: %s', async (_, where, args, want) => {
    expect((await options(where, [...args])).out).toBe(path.join(dir, where, want))
  })

  it.each([
    ['--tags beats the image\'s and the file\'s tags', ['--tags', '2.0', '--tags', '1.10'], ['2.0', '1.10']],
    ['no --tags: the image\'s own', [], ['own']],
  ])('tags: %s', async (_, args, want) => {
    expect((await options('with', args)).images.map((i) => i.tags)).toEqual([want])
  })

  it('a text flag beats the file, and no flag leaves the file\'s value', async () => {
    expect((await options('with', ['--host', 'flag.example'])).host).toBe('flag.example')
    expect((await options('with', [])).host).toBe('file.example')
  })

  it('the file\'s "v2": false holds unless no flag; --no-v2 is false with no file; the default is true', async () => {
    expect((await options('with', [])).v2).toBe(false)
    expect((await options('without', ['--host', 'h.example', 'l', '--no-v2'])).v2).toBe(false)
    expect((await options('without', ['--host', 'h.example', 'l'])).v2).toBe(true)
  })
})

// The command line read by the matched command's declared options, with Node's parseArgs: every
// value is the exact text typed (cac's parser reads "1.10" as the number 1.1 and "2.0" as 2), a
// repeated flag is an array, and an unknown flag names the closest declared one.
import { parseArgs } from 'node:util'
import type { Command } from 'cac'
import { OcisiteError } from '../errors.js'
import { didYouMean } from '../suggest.js'

/** One declared option: its long name as typed, the key the action reads, whether it takes a value. */
interface Declared {
  long: string
  key: string
  boolean: boolean
  short?: string
}

/** From cac's option declarations: `--max-archive-size <size>`, `-h, --help`, `--no-wait`. */
export function declaredOptions(options: Command['options']): Declared[] {
  return options.map((o) => {
    const names = o.rawName
      .replace(/[<[].*$/, '')
      .split(',')
      .map((n) => n.trim())
    const long = names.find((n) => n.startsWith('--'))!.slice(2).replace(/^no-/, '')
    const short = names.find((n) => /^-[^-]$/.test(n))?.slice(1)
    return { long, key: o.name, boolean: !!o.isBoolean, ...(short ? { short } : {}) }
  })
}

function usage(message: string): OcisiteError {
  return new OcisiteError('CONFIG_INVALID', message)
}

/** An unknown flag, with the closest declared one when there is a near one. */
function unknownFlag(rawName: string, declared: Declared[], commandName: string): OcisiteError {
  const guess = didYouMean(rawName.replace(/^-+/, ''), declared.map((d) => d.long))
  return usage(`unknown flag ${rawName}${guess ? `; did you mean --${guess}?` : ` (see ocisite ${commandName ? `${commandName} ` : ''}--help)`}`)
}

/** The value a text flag was given, exactly, or an error saying what is missing. */
function textValue(rawName: string, value: string | undefined, inline: boolean): string {
  if (value === undefined) throw usage(`${rawName} needs a value`)
  // The parser reads `--flag --other` as the value "--other": almost always a forgotten value.
  if (!inline && value.startsWith('-') && value !== '-') throw usage(`${rawName} needs a value (for one that starts with "-", write ${rawName}=${value})`)
  if (value === '') throw usage(`${rawName} is empty; give it a value or leave it out`)
  return value
}

function booleanValue(rawName: string, value: string | undefined): boolean {
  if (rawName.startsWith('--no-')) {
    if (value !== undefined) throw usage(`${rawName} takes no value`)
    return false
  }
  if (value === undefined || value === 'true') return true
  if (value === 'false') return false
  throw usage(`${rawName} takes no value (it is on when given)`)
}

/** What a command line holds for a command: its positional arguments and its options by key. */
export interface ReadArgv {
  args: string[]
  options: Record<string, unknown>
}

/**
 * Read `args` (after the program name) for `command` (undefined: no command matched), whose
 * name, if any, is the first positional. Options are the command's and the global ones.
 */
export function readArgv(args: string[], command: Command | undefined, global: Command): ReadArgv {
  const declared = declaredOptions([...global.options, ...(command?.options ?? [])])
  const byLong = new Map(declared.map((d) => [d.long, d]))
  const { tokens } = parseArgs({
    args,
    options: Object.fromEntries(declared.map((d) => [d.long, { type: d.boolean ? 'boolean' : 'string', ...(d.short ? { short: d.short } : {}) }])),
    strict: false,
    allowPositionals: true,
    allowNegative: true,
    tokens: true,
  })
  const options: Record<string, unknown> = {}
  const positionals: string[] = []
  let terminated = false
  for (const t of tokens) {
    if (t.kind === 'option-terminator') terminated = true
    else if (t.kind === 'positional') (terminated ? ((options['--'] as string[] | undefined) ?? (options['--'] = [])) : positionals).push(t.value)
    else {
      const d = byLong.get(t.name)
      // A `--no-x` of a flag that takes a value is not a negation parseArgs knows: unknown.
      if (!d || (t.rawName.startsWith('--no-') && !d.boolean)) throw unknownFlag(t.rawName, declared, command?.name ?? '')
      const value = d.boolean ? booleanValue(t.rawName, t.value) : textValue(t.rawName, t.value, t.inlineValue === true)
      const before = options[d.key]
      options[d.key] = before === undefined || d.boolean ? value : [before, value].flat()
    }
  }
  options['--'] ??= []
  return { args: command && positionals[0] === command.name ? positionals.slice(1) : positionals, options }
}

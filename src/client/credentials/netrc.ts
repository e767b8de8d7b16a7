import { promises as fs } from 'node:fs'
import { OcisiteError } from '../../errors.js'
import { Credential, type CredentialTarget } from './credential.js'

/**
 * A small .netrc reader, as curl reads the file. The npm parsers were no fit: netrc-parser reads
 * property lines only when indented (an unindented `login x` line is lost) and runs gpg itself;
 * netrc has not been touched since 2014 and reads no quoted strings.
 *
 * - Tokens are separated by blanks and newlines; `"…"` quotes a token, with `\"`, `\\`, `\n`,
 *   `\r` and `\t` escapes (curl 7.84+).
 * - `#` at the start of a token comments out the rest of its line.
 * - `machine NAME` starts an entry, `default` the entry for any other host (meant to be last);
 *   `login`, `password` and `account` take a value; `macdef NAME` skips its macro up to the next
 *   empty line. Other words are skipped, as curl does.
 * - The first `machine` entry for the host wins; a netrc has no ports, so it applies to every
 *   port of the host.
 */
export interface NetrcEntry {
  /** Lower case; undefined for the `default` entry. */
  machine: string | undefined
  login?: string
  password?: string
  account?: string
}

interface Token {
  text: string
  line: number
}

/** Reads tokens one at a time, so a macro body can be skipped as raw lines (it may hold a stray quote). */
class Lexer {
  #i = 0
  #line = 1
  constructor(
    readonly text: string,
    readonly label: string,
  ) {}

  fail(why: string, line = this.#line): never {
    throw new OcisiteError('CONFIG_INVALID', `${this.label} line ${line}: ${why}`, { file: this.label, line })
  }

  #char(): string {
    const c = this.text[this.#i++]!
    if (c === '\n') this.#line++
    return c
  }

  next(): Token | undefined {
    const text = this.text
    for (;;) {
      while (this.#i < text.length && /\s/.test(text[this.#i]!)) this.#char()
      if (text[this.#i] !== '#') break
      while (this.#i < text.length && text[this.#i] !== '\n') this.#i++
    }
    if (this.#i >= text.length) return undefined
    const line = this.#line
    if (text[this.#i] !== '"') {
      const start = this.#i
      while (this.#i < text.length && !/\s/.test(text[this.#i]!)) this.#i++
      return { text: text.slice(start, this.#i), line }
    }
    this.#i++
    let value = ''
    for (;;) {
      if (this.#i >= text.length) this.fail('a quoted string is not closed', line)
      const q = this.#char()
      if (q === '"') return { text: value, line }
      if (q !== '\\') {
        value += q
        continue
      }
      if (this.#i >= text.length) this.fail('a quoted string is not closed', line)
      const e = this.#char()
      value += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e
    }
  }

  /** Skip the rest of this line and every line after it up to an empty one (a `macdef` body). */
  skipMacro(): void {
    const text = this.text
    while (this.#i < text.length && text[this.#i] !== '\n') this.#i++
    while (this.#i < text.length) {
      this.#char() // the newline ending the previous line
      const end = text.indexOf('\n', this.#i)
      const lineText = text.slice(this.#i, end === -1 ? text.length : end)
      if (lineText.trim() === '') return
      this.#i = end === -1 ? text.length : end
    }
  }
}

/** Parse .netrc text into its entries, in file order. */
export function parseNetrc(text: string, label = '.netrc'): NetrcEntry[] {
  const lexer = new Lexer(text, label)
  const entries: NetrcEntry[] = []
  let current: NetrcEntry | undefined
  for (let token = lexer.next(); token; token = lexer.next()) {
    const { text: word, line } = token
    const value = () => lexer.next()?.text ?? lexer.fail(`"${word}" has no value`, line)
    if (word === 'machine') entries.push((current = { machine: value().toLowerCase() }))
    else if (word === 'default') entries.push((current = { machine: undefined }))
    else if (word === 'macdef') {
      value()
      lexer.skipMacro()
    } else if ((word === 'login' || word === 'password' || word === 'account') && current) current[word] = value()
  }
  return entries
}

/** The entry for a host: its first `machine` entry, else the `default` entry. */
export function netrcEntryFor(entries: NetrcEntry[], host: string): NetrcEntry | undefined {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  return entries.find((e) => e.machine === bare || e.machine === host) ?? entries.find((e) => e.machine === undefined)
}

/** Read a .netrc and give the target's credential (login and password both needed); ENOENT is none. */
export async function credentialFromNetrc(file: string, label: string, target: CredentialTarget): Promise<Credential | undefined> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new OcisiteError('CONFIG_INVALID', `${label}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file }, { cause: err })
  }
  const entry = netrcEntryFor(parseNetrc(text, label), target.host)
  if (!entry || entry.login === undefined || entry.password === undefined) return undefined
  return new Credential(entry.login, entry.password, entry.machine === undefined ? `${label} (default entry)` : label)
}

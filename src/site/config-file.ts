import { promises as fs, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser'
import { isOcisiteError, OcisiteError } from '../errors.js'
import { parseJsonObject } from '../oci/json.js'
import { didYouMean } from '../suggest.js'

/** A listen address as written in ocisite.json: a port, ADDRESS:PORT, or a list of them. */
export type ListenSetting = string | number | Array<string | number>

/** One image to publish: a layout, an archive, or a directory searched for them. */
export interface ImageSpec {
  /** Image path (`org/app`); for a searched directory, a prefix for what it finds. */
  path?: string
  /** A layout directory, an OCI archive, or a directory to search. */
  from: string
  /** Tag globs (`v*`); empty means every tagged entry. */
  tags?: string[]
}

/** The shape ocisite.schema.json describes. */
export interface ConfigFile {
  host?: string
  out?: string
  baseUrl?: string
  v2?: boolean
  headersFile?: boolean
  html?: boolean
  inputs?: string[]
  tags?: string[]
  images?: ImageSpec[]
  nginx?: NginxSettings<ListenSetting> & { file?: string }
}

/** The nginx settings, as build's flags and under "nginx" in ocisite.json (`L`: how a listen address is written). */
export interface NginxSettings<L> {
  /** The directory the server will serve (default: `out`'s absolute path), e.g. a release symlink. */
  root?: string
  /** Where the site listens: PORT, ADDRESS:PORT or [IPv6]:PORT. */
  listen?: L
  /** With TLS: where the plain-HTTP redirect server listens. */
  httpListen?: L
  tlsCert?: string
  tlsKey?: string
  /** Serve /.well-known/acme-challenge/ from this directory on both servers (certbot webroot). */
  acmeRoot?: string
  /** The nginx config asks for HTTP Basic credentials from the users of this htpasswd file (bcrypt, {SHA} or apr1). */
  authBasic?: string
  /** Only these URI prefixes need credentials (`/v2/private/`, `/oci-index/private`); none: the whole site. */
  authPath?: string[]
  /** The realm clients are shown (default: the host). */
  authRealm?: string
}

/** The schema shipped beside the package (and referenced by `"$schema"` in config files). */
export const configSchemaFile = fileURLToPath(new URL('../../ocisite.schema.json', import.meta.url))

let validator: ValidateFunction | undefined

/** Validate against the shipped schema. ajv is loaded only when there is a config file to check. */
async function validate(doc: unknown): Promise<ErrorObject[]> {
  if (!validator) {
    // ajv is CommonJS; under NodeNext its class is the default export's `default`.
    const { default: AjvModule } = await import('ajv')
    validator = new AjvModule.default({ allErrors: true, verbose: true, allowUnionTypes: true }).compile(JSON.parse(readFileSync(configSchemaFile, 'utf8')) as object)
  }
  return validator(doc) ? [] : (validator.errors ?? [])
}

/** One thing wrong with the file: where (a JSON path), and what. */
interface Problem {
  path: Array<string | number>
  /** An unknown key is located at the key itself, not at its value. */
  atKey?: boolean
  message: string
}

/** `/images/0/from` → ['images', 0, 'from']. */
function jsonPath(instancePath: string): Array<string | number> {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p))
}

/** ['images', 0, 'from'] → `images[0].from`. */
function keyName(path: Array<string | number>): string {
  return path.reduce<string>((name, p) => (typeof p === 'number' ? `${name}[${p}]` : name ? `${name}.${p}` : p), '') || '(top level)'
}

/** `"key" must be string or number`, from the type errors (and others) found at one place. */
function describeAt(errors: ErrorObject[], instancePath: string): Problem {
  const here = errors.filter((e) => e.instancePath === instancePath)
  const types = [...new Set(here.flatMap((e) => (e.keyword === 'type' ? [e.params.type as string | string[]].flat() : [])))]
  const what = types.length > 0 ? `must be ${types.join(' or ').replace('integer', 'number')}` : (here.find((e) => e.keyword !== 'anyOf')?.message ?? 'is not valid')
  const path = jsonPath(instancePath)
  return { path, message: `"${keyName(path)}" ${what}` }
}

function unknownKey(e: ErrorObject): Problem {
  const key = String(e.params.additionalProperty)
  const parent = jsonPath(e.instancePath)
  const valid = Object.keys((e.parentSchema as { properties?: object }).properties ?? {}).filter((k) => k !== '$schema')
  const guess = didYouMean(key, valid)
  return { path: [...parent, key], atKey: true, message: `unknown key "${keyName([...parent, key])}"${guess ? ` (did you mean "${keyName([...parent, guess])}"?)` : ''}` }
}

/**
 * Every distinct problem in ajv's errors. An anyOf and its branches' errors are one problem: ajv
 * lists a failed anyOf right after its branches' errors (at its place or below it).
 */
function problems(errors: ErrorObject[]): Problem[] {
  const out: Problem[] = []
  const grouped = new Set<ErrorObject>()
  errors.forEach((any, i) => {
    if (any.keyword !== 'anyOf') return
    const under = (e: ErrorObject) => e.instancePath === any.instancePath || e.instancePath.startsWith(`${any.instancePath}/`)
    let first = i
    while (first > 0 && !grouped.has(errors[first - 1]!) && under(errors[first - 1]!)) first--
    const branch = errors.slice(first, i)
    for (const e of [...branch, any]) grouped.add(e)
    // The deepest error names the key; at the anyOf's own place, the types its branches allow.
    const deepest = branch.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a), any)
    out.push(describeAt(branch.length > 0 ? branch : [any], deepest.instancePath))
  })
  for (const e of errors) if (!grouped.has(e)) out.push(e.keyword === 'additionalProperties' ? unknownKey(e) : describeAt([e], e.instancePath))
  return out.filter((p, i) => out.findIndex((q) => q.message === p.message) === i)
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - before.lastIndexOf('\n') }
}

/** Where a problem is in the text: at the key for an unknown key, else at the value. */
function offsetOf(root: Node | undefined, p: Problem): number {
  const node = root && findNodeAtLocation(root, p.path)
  if (node) return p.atKey && node.parent?.type === 'property' ? node.parent.offset : node.offset
  // A missing value (a required key): the closest enclosing node that exists.
  for (let n = p.path.length - 1; n >= 0; n--) {
    const parent = root && findNodeAtLocation(root, p.path.slice(0, n))
    if (parent) return parent.offset
  }
  return 0
}

/** One error for everything wrong: a single problem on one line, several on a line each. */
function reportAll(code: 'CONFIG_INVALID' | 'JSON_INVALID', file: string, located: Array<{ offset: number; message: string }>, text: string, cause?: unknown): OcisiteError {
  const lines = located
    .sort((a, b) => a.offset - b.offset)
    // One problem per place: a parser recovering from one mistake may report it twice.
    .filter((p, i, all) => i === 0 || all[i - 1]!.offset !== p.offset)
    .map(({ offset, message }) => {
      const { line, column } = lineColumn(text, offset)
      return `${file}:${line}:${column}: ${message}`
    })
  const message = lines.length === 1 ? lines[0]! : `${file}: ${lines.length} problems:\n  ${lines.join('\n  ')}`
  return new OcisiteError(code, message, { file }, { cause })
}

/** Words for the parser's codes that do not read well as they are. */
const syntaxPhrases: Record<string, string> = {
  InvalidCommentToken: 'a comment (JSON has none)',
  InvalidSymbol: 'unexpected character',
  EndOfFileExpected: 'text after the end of the document',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfComment: 'a comment (JSON has none)',
}

/** `CloseBraceExpected` → `close brace expected`. */
function syntaxWords(e: ParseError): string {
  const code = printParseErrorCode(e.error)
  return syntaxPhrases[code] ?? code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
}

/** Read and validate a config file. A missing file is undefined unless it was named explicitly. */
export async function readConfigFile(file: string, explicit: boolean): Promise<ConfigFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OcisiteError('CONFIG_INVALID', `${file}: cannot read the config file: ${(err as Error).message}`, { file }, { cause: err })
    if (explicit) throw new OcisiteError('CONFIG_INVALID', `${file}: config file not found`, { file }, { cause: err })
    return undefined
  }
  const text = bytes.toString('utf8')
  let doc: Record<string, unknown>
  try {
    doc = parseJsonObject(bytes, file)
  } catch (err) {
    if (!(isOcisiteError(err) && err.cause instanceof SyntaxError)) throw err
    // JSON.parse names a character position; the tree parser names every place, as line and column.
    const syntax: ParseError[] = []
    parseTree(text, syntax, { disallowComments: true, allowTrailingComma: false })
    if (syntax.length === 0) throw err
    throw reportAll('JSON_INVALID', file, syntax.map((e) => ({ offset: e.offset, message: `invalid JSON: ${syntaxWords(e)}` })), text, err)
  }
  const errors = await validate(doc)
  if (errors.length > 0) {
    const root = parseTree(text)
    throw reportAll('CONFIG_INVALID', file, problems(errors).map((p) => ({ offset: offsetOf(root, p), message: p.message })), text)
  }
  return doc as ConfigFile
}

import { promises as fs, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { closest, distance } from 'fastest-levenshtein'
import { OcisiteError } from '../errors.js'
import { parseJsonObject } from '../oci/json.js'
import type { ImageSpec } from './options.js'

/** A listen address as written in ocisite.json: a port, ADDRESS:PORT, or a list of them. */
export type ListenSetting = string | number | Array<string | number>

/** The shape ocisite.schema.json describes. */
export interface ConfigFile {
  host?: string
  out?: string
  baseUrl?: string
  v2?: boolean
  headersFile?: boolean
  inputs?: string[]
  tags?: string[]
  images?: ImageSpec[]
  nginx?: {
    file?: string
    root?: string
    listen?: ListenSetting
    httpListen?: ListenSetting
    tlsCert?: string
    tlsKey?: string
    acmeRoot?: string
  }
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

/** `/images/0/from` → `images[0].from`. */
function keyName(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1)
  if (child !== undefined) parts.push(child)
  return parts.reduce((name, p) => (/^\d+$/.test(p) ? `${name}[${p}]` : name ? `${name}.${p}` : p), '')
}

/** The one line that says what is wrong, for the most useful of ajv's errors. */
function describe(errors: ErrorObject[]): string {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties')
  if (unknown) {
    const key = String(unknown.params.additionalProperty)
    const valid = Object.keys((unknown.parentSchema as { properties?: object }).properties ?? {}).filter((k) => k !== '$schema')
    const guess = valid.length > 0 ? closest(key, valid) : undefined
    const near = guess !== undefined && (distance(key, guess) <= Math.max(2, Math.floor(key.length / 3)) || guess.startsWith(key) || key.startsWith(guess))
    return `unknown key "${keyName(unknown.instancePath, key)}"${near ? ` (did you mean "${keyName(unknown.instancePath, guess)}"?)` : ''}`
  }
  // The deepest error names the key; an anyOf is described by the types its branches allow.
  const deepest = errors.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a))
  const here = errors.filter((e) => e.instancePath === deepest.instancePath)
  const types = [...new Set(here.flatMap((e) => (e.keyword === 'type' ? [e.params.type as string | string[]].flat() : [])))]
  const what = types.length > 0 ? `must be ${types.join(' or ').replace('integer', 'number')}` : (deepest.message ?? 'is not valid')
  return `"${keyName(deepest.instancePath) || '(top level)'}" ${what}`
}

/** Read and validate a config file. A missing file is undefined unless it was named explicitly. */
export async function readConfigFile(file: string, explicit: boolean): Promise<ConfigFile | undefined> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch {
    if (explicit) throw new OcisiteError('CONFIG_INVALID', `${file}: config file not found`, { file })
    return undefined
  }
  const doc = parseJsonObject(bytes, file)
  const errors = await validate(doc)
  if (errors.length > 0) throw new OcisiteError('CONFIG_INVALID', `${file}: ${describe(errors)}`, { file })
  return doc as ConfigFile
}

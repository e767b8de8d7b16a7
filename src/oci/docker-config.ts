// A docker image config turned into an OCI one exactly as skopeo 1.9.3 (containers/image 5.23,
// Go 1.19) turns it when it converts a docker-archive into an OCI layout: Go's encoding/json
// decodes it into image-spec v1.1.0-rc2's `Image` and encodes that again. So:
// - only the OCI fields are kept (container_config, Healthcheck, Shell, OnBuild, … are dropped),
//   in the struct's field order, empty ones left out where the struct says omitempty;
// - keys match fields case-insensitively (an exact match first); a repeated key merges into
//   objects and maps, and a null leaves a string or an object as it was;
// - times are RFC 3339 reformatted (fraction trimmed to at most 9 digits, +00:00 as Z);
// - strings are escaped as Go escapes them (<, >, &, U+2028, U+2029 and control characters as
//   \u00XX), and map keys sorted by their UTF-8 bytes.
// What Go would decode differently than described here (a list given twice, which Go decodes into
// the first one's memory) is refused rather than guessed.
import { OcisiteError } from '../errors.js'
import { jsonDepth, MAX_CONFIG_BYTES, MAX_JSON_DEPTH } from './json.js'

/** A JSON value with every object's entries in order, repeated keys kept (as Go's decoder sees them). */
type Json = null | boolean | number | string | Json[] | { entries: Array<[string, Json]> }

/** A Go field type: string, bool, *time.Time, []string, map[string]struct{}, map[string]string, a struct, a slice of structs. */
type Kind = 'string' | 'bool' | 'time' | 'strings' | 'set' | 'map' | { struct: Field[] } | { list: Field[] }
interface Field {
  name: string
  kind: Kind
  omitEmpty: boolean
}
const f = (name: string, kind: Kind, omitEmpty = true): Field => ({ name, kind, omitEmpty })

// image-spec v1.1.0-rc2 specs-go/v1/config.go, field by field.
const HISTORY = [f('created', 'time'), f('created_by', 'string'), f('author', 'string'), f('comment', 'string'), f('empty_layer', 'bool')]
const IMAGE_CONFIG = [
  f('User', 'string'), f('ExposedPorts', 'set'), f('Env', 'strings'), f('Entrypoint', 'strings'), f('Cmd', 'strings'),
  f('Volumes', 'set'), f('WorkingDir', 'string'), f('Labels', 'map'), f('StopSignal', 'string'), f('ArgsEscaped', 'bool'),
]
const ROOTFS = [f('type', 'string', false), f('diff_ids', 'strings', false)]
const IMAGE = [
  f('created', 'time'), f('author', 'string'), f('architecture', 'string', false), f('variant', 'string'), f('os', 'string', false),
  f('os.version', 'string'), f('os.features', 'strings'), f('config', { struct: IMAGE_CONFIG }), f('rootfs', { struct: ROOTFS }, false), f('history', { list: HISTORY }),
]

/** A decoded struct: its fields' values (absent is Go's zero value). */
type Struct = Map<string, unknown>

/**
 * The OCI config skopeo writes for a docker-archive's config `bytes`, and the diff_ids it lists.
 * `where` names the config in errors.
 */
export function ociConfigOf(bytes: Uint8Array, where: string): { bytes: Buffer; diffIds: string[] } {
  if (bytes.byteLength > MAX_CONFIG_BYTES) throw new OcisiteError('JSON_INVALID', `${where}: ${bytes.byteLength} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`)
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new OcisiteError('JSON_INVALID', `${where}: JSON nested deeper than ${MAX_JSON_DEPTH} levels`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw new OcisiteError('JSON_INVALID', `${where}: the image config is not valid UTF-8`, {}, { cause: err })
  }
  const doc = parseJson(text, where)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new OcisiteError('JSON_INVALID', `${where}: the image config is not a JSON object`)
  const image: Struct = new Map()
  decodeStruct(IMAGE, image, doc, where)
  const diffIds = (image.get('rootfs') as Struct | undefined)?.get('diff_ids') as string[] | null | undefined
  if (!diffIds) throw new OcisiteError('LAYOUT_INVALID', `${where}: the image config has no rootfs.diff_ids`)
  return { bytes: Buffer.from(encodeStruct(IMAGE, image), 'utf8'), diffIds }
}

// ---- parsing (strict JSON, as Go's scanner checks it, keeping repeated keys) ----

function parseJson(text: string, where: string): Json {
  let at = 0
  const fail = (what: string): never => {
    throw new OcisiteError('JSON_INVALID', `${where}: invalid JSON (${what} at character ${at})`)
  }
  const token = (re: RegExp): string | undefined => {
    re.lastIndex = at
    const m = re.exec(text)
    if (m) at += m[0].length
    return m?.[0]
  }
  const space = () => void token(/[ \t\n\r]*/y)
  const value = (): Json => {
    space()
    const c = text[at]
    if (c === '{') {
      at++
      const entries: Array<[string, Json]> = []
      space()
      if (text[at] === '}') return at++, { entries }
      for (;;) {
        space()
        const key = text[at] === '"' ? (value() as string) : fail('a key expected')
        space()
        if (text[at++] !== ':') fail('":" expected')
        entries.push([key, value()])
        space()
        const next = text[at++]
        if (next === '}') return { entries }
        if (next !== ',') fail('"," or "}" expected')
      }
    }
    if (c === '[') {
      at++
      const items: Json[] = []
      space()
      if (text[at] === ']') return at++, items
      for (;;) {
        items.push(value())
        space()
        const next = text[at++]
        if (next === ']') return items
        if (next !== ',') fail('"," or "]" expected')
      }
    }
    if (c === '"') {
      const raw = token(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y) ?? fail('a bad string')
      // Go decodes an escaped lone surrogate as U+FFFD.
      return (JSON.parse(raw) as string).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    }
    const literal = token(/true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y) ?? fail('a value expected')
    return literal === 'true' ? true : literal === 'false' ? false : literal === 'null' ? null : Number(literal)
  }
  const doc = value()
  space()
  if (at !== text.length) fail('text after the document')
  return doc
}

// ---- decoding (Go's encoding/json into the structs above) ----

/** Go's field lookup: the exact name, else the first one equal under its simple case folding. */
function fieldFor(fields: Field[], key: string): Field | undefined {
  const fold = (s: string) => s.replace(/\u212a/g, 'k').replace(/\u017f/g, 's').replace(/[A-Z]/g, (c) => c.toLowerCase())
  return fields.find((x) => x.name === key) ?? fields.find((x) => fold(x.name) === fold(key))
}

const isObject = (v: Json): v is { entries: Array<[string, Json]> } => v !== null && typeof v === 'object' && !Array.isArray(v)

function decodeStruct(fields: Field[], into: Struct, obj: { entries: Array<[string, Json]> }, where: string): void {
  for (const [key, v] of obj.entries) {
    const field = fieldFor(fields, key)
    if (field) into.set(field.name, decodeField(field, into.get(field.name), v, `${where}: "${key}"`))
  }
}

function decodeField(field: Field, prior: unknown, v: Json, where: string): unknown {
  const wrong = (): never => {
    throw new OcisiteError('JSON_INVALID', `${where} cannot be read as ${describe(field.kind)}`)
  }
  const { kind } = field
  // null leaves a string, a bool or a struct as it was, and makes a pointer, a slice or a map nil.
  if (v === null) return kind === 'string' || kind === 'bool' || (typeof kind === 'object' && 'struct' in kind) ? prior : null
  if (kind === 'string') return typeof v === 'string' ? v : wrong()
  if (kind === 'bool') return typeof v === 'boolean' ? v : wrong()
  if (kind === 'time') return typeof v === 'string' ? goTime(v, where) : wrong()
  if (kind === 'strings' || (typeof kind === 'object' && 'list' in kind)) {
    if (!Array.isArray(v)) return wrong()
    if (Array.isArray(prior)) throw new OcisiteError('JSON_INVALID', `${where} is given twice; Go decodes the second list into the first one's memory, which is not reproduced`)
    if (kind === 'strings') return v.map((s) => (s === null ? '' : typeof s === 'string' ? s : wrong()))
    return v.map((item) => {
      const s: Struct = new Map()
      if (isObject(item)) decodeStruct(kind.list, s, item, where)
      else if (item !== null) wrong()
      return s
    })
  }
  if (!isObject(v)) return wrong()
  if (kind === 'set' || kind === 'map') {
    // Into a map that exists already (a repeated key): its entries are kept.
    const map = new Map(prior instanceof Map ? (prior as Map<string, string | true>) : [])
    for (const [k, x] of v.entries) map.set(k, kind === 'set' ? (x === null || isObject(x) ? true : wrong()) : x === null ? '' : typeof x === 'string' ? x : wrong())
    return map
  }
  const struct: Struct = prior instanceof Map ? (prior as Struct) : new Map()
  decodeStruct(kind.struct, struct, v, where)
  return struct
}

function describe(kind: Kind): string {
  if (typeof kind === 'string') return { string: 'a string', bool: 'true or false', time: 'an RFC 3339 time', strings: 'a list of strings', set: 'an object', map: 'an object of strings' }[kind]
  return 'list' in kind ? 'a list of objects' : 'an object'
}

/** Go 1.19's time.Time JSON round trip: RFC 3339 parsed (leniently where Go is), then formatted as RFC 3339 with nanoseconds. */
function goTime(text: string, where: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(text)
  const bad = (why: string): never => {
    throw new OcisiteError('JSON_INVALID', `${where}: time "${text}" ${why}`)
  }
  if (!m) return bad('is not RFC 3339 (2006-01-02T15:04:05Z07:00)')
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const daysIn = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
  if (!daysIn) return bad('has a month out of range')
  if (day < 1 || day > daysIn) return bad('has a day out of range')
  if (hour > 23 || minute > 59 || second > 59) return bad('has an hour, minute or second out of range')
  const fraction = (m[7] ?? '').slice(0, 9).replace(/0+$/, '')
  const zone = m[8] ? Number(m[9]) * 60 + Number(m[10]) : 0
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  const offset = zone === 0 ? 'Z' : `${m[8]}${pad(Math.floor(zone / 60))}:${pad(zone % 60)}`
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}${fraction ? `.${fraction}` : ''}${offset}`
}

// ---- encoding (Go's json.Marshal of the structs) ----

/** A string as Go's encoder writes it, HTML characters escaped. */
function goString(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`
    else out += ch
  }
  return `${out}"`
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

function encodeStruct(fields: Field[], s: Struct): string {
  const parts: string[] = []
  for (const field of fields) {
    const v = s.get(field.name)
    // omitempty leaves out empty values, but never a struct.
    const empty = v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (v instanceof Map && v.size === 0)
    if (field.omitEmpty && empty && (typeof field.kind === 'string' || 'list' in field.kind)) continue
    parts.push(`${goString(field.name)}:${encodeValue(field.kind, v)}`)
  }
  return `{${parts.join(',')}}`
}

function encodeValue(kind: Kind, v: unknown): string {
  if (kind === 'string' || kind === 'time') return goString((v as string | undefined) ?? '')
  if (kind === 'bool') return v === true ? 'true' : 'false'
  if (kind === 'strings') return Array.isArray(v) ? `[${(v as string[]).map(goString).join(',')}]` : 'null'
  if (kind === 'set' || kind === 'map') {
    if (!(v instanceof Map)) return 'null'
    const keys = [...(v as Map<string, string | true>).keys()].sort(byUtf8)
    return `{${keys.map((k) => `${goString(k)}:${kind === 'set' ? '{}' : goString((v as Map<string, string>).get(k)!)}`).join(',')}}`
  }
  if ('list' in kind) return Array.isArray(v) ? `[${(v as Struct[]).map((s) => encodeStruct(kind.list, s)).join(',')}]` : 'null'
  return encodeStruct(kind.struct, v instanceof Map ? (v as Struct) : new Map())
}

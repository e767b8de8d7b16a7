import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { OcisiteError } from '../errors.js'
import { scopesOf, type DockerReference } from './reference.js'

/** One namespace of a registries.d file: where its signatures are read from and written to. */
export interface LookasideNamespace {
  readonly lookaside?: string
  readonly lookasideStaging?: string
  readonly useSigstoreAttachments?: boolean
  /** The file it came from. */
  readonly file: string
}

/** The merged registries.d configuration (containers-registries.d(5)). */
export interface RegistriesD {
  readonly defaultDocker?: LookasideNamespace
  readonly docker: ReadonlyMap<string, LookasideNamespace>
}

/**
 * Merge registries.d files (`name` for messages, `text` YAML) as containers/image does: each
 * scope and `default-docker` may be defined once across all files. `sigstore` and
 * `sigstore-staging` are the older names of `lookaside` and `lookaside-staging`.
 */
export function parseRegistriesD(files: readonly { name: string; text: string }[]): RegistriesD {
  let defaultDocker: LookasideNamespace | undefined
  const docker = new Map<string, LookasideNamespace>()
  for (const { name, text } of files) {
    const doc = parseDocument(text, name)
    if (doc['default-docker'] !== undefined && doc['default-docker'] !== null) {
      if (defaultDocker) throw invalid(name, `"default-docker" is also defined in ${defaultDocker.file}`)
      defaultDocker = parseNamespace(doc['default-docker'], name, 'default-docker')
    }
    const scopes = doc.docker ?? {}
    if (typeof scopes !== 'object' || Array.isArray(scopes)) throw invalid(name, '"docker" is not a map of scopes')
    for (const [scope, value] of Object.entries(scopes as Record<string, unknown>)) {
      const prior = docker.get(scope)
      if (prior) throw invalid(name, `scope "${scope}" is also defined in ${prior.file}`)
      docker.set(scope, parseNamespace(value, name, `docker.${scope}`))
    }
  }
  return { ...(defaultDocker ? { defaultDocker } : {}), docker }
}

/** Read every `*.yaml` file of a registries.d directory, in name order; a missing directory is empty. */
export async function readRegistriesD(dir: string): Promise<RegistriesD> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { docker: new Map() }
    throw new OcisiteError('POLICY_INVALID', `${dir}: cannot read the registries.d directory (${(err as Error).message})`, { file: dir }, { cause: err })
  }
  const files = await Promise.all(names.map(async (n) => ({ name: join(dir, n), text: await readFile(join(dir, n), 'utf8') })))
  return parseRegistriesD(files)
}

/**
 * The lookaside base URL for a reference: the most specific scope (`host/repo:tag`, the
 * repository, its namespaces, the host, `*.` wildcards) that names one, then `default-docker`.
 * `write` prefers `lookaside-staging`. Undefined when none is configured (the caller then uses
 * the site's own `/signatures/`).
 */
export function lookasideFor(config: RegistriesD, ref: DockerReference, write = false): { url: string; scope: string; file: string } | undefined {
  for (const scope of scopesOf(ref)) {
    const ns = config.docker.get(scope)
    const url = ns && topLevel(ns, write)
    if (ns && url) return { url, scope, file: ns.file }
  }
  const ns = config.defaultDocker
  const url = ns && topLevel(ns, write)
  return ns && url ? { url, scope: 'default-docker', file: ns.file } : undefined
}

function topLevel(ns: LookasideNamespace, write: boolean): string | undefined {
  return (write ? ns.lookasideStaging : undefined) ?? ns.lookaside
}

function parseDocument(text: string, name: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new OcisiteError('POLICY_INVALID', `${name}: invalid YAML (${(err as Error).message.split('\n')[0]})`, { file: name }, { cause: err })
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(name, 'the document is not a map')
  return doc as Record<string, unknown>
}

function parseNamespace(value: unknown, file: string, where: string): LookasideNamespace {
  if (value === null || value === undefined) return { file }
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(file, `${where} is not a map`)
  const v = value as Record<string, unknown>
  const url = (key: string, legacy: string): string | undefined => {
    if (v[key] !== undefined && v[legacy] !== undefined) throw invalid(file, `${where} has both ${key} and ${legacy}`)
    const u = v[key] ?? v[legacy]
    if (u === undefined || u === null) return undefined
    if (typeof u !== 'string' || !URL.canParse(u)) throw invalid(file, `${where}.${v[key] !== undefined ? key : legacy} is not a URL`)
    return u
  }
  const lookaside = url('lookaside', 'sigstore')
  const lookasideStaging = url('lookaside-staging', 'sigstore-staging')
  const attachments = v['use-sigstore-attachments']
  if (attachments !== undefined && typeof attachments !== 'boolean') throw invalid(file, `${where}.use-sigstore-attachments is not true or false`)
  return { file, ...(lookaside ? { lookaside } : {}), ...(lookasideStaging ? { lookasideStaging } : {}), ...(attachments !== undefined ? { useSigstoreAttachments: attachments } : {}) }
}

function invalid(file: string, what: string): OcisiteError {
  return new OcisiteError('POLICY_INVALID', `${file}: ${what}`, { file })
}

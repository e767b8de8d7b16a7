import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { OcisiteError } from '../errors.js'
import { parseJsonObject } from '../oci/json.js'
import { unlessMissing } from '../fs/missing.js'

/** One regexp ref-engines object entry chosen for a name, with the file it came from. */
export interface XdgMatch {
  key: string
  file: string
  refEngines: Record<string, unknown>
}

/** Config base directories, most preferred first: $XDG_CONFIG_HOME, then $XDG_CONFIG_DIRS. */
export function xdgConfigDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config')
  const dirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean)
  return [home, ...dirs]
}

/** Read every `oci-discovery/ref-engine-discovery.json`, merged key by key (the most-preferred file wins per key). */
export async function readXdgDiscovery(env: NodeJS.ProcessEnv = process.env): Promise<Map<string, { file: string; value: Record<string, unknown> }>> {
  const merged = new Map<string, { file: string; value: Record<string, unknown> }>()
  for (const dir of xdgConfigDirs(env)) {
    const file = path.join(dir, 'oci-discovery', 'ref-engine-discovery.json')
    const bytes = await unlessMissing(fs.readFile(file))
    if (!bytes) continue
    const doc = parseJsonObject(bytes, file)
    for (const [key, value] of Object.entries(doc)) {
      if (merged.has(key)) continue
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new OcisiteError('CONFIG_INVALID', `${file}: the value for "${key}" is not a ref-engines object`, { file })
      }
      merged.set(key, { file, value: value as Record<string, unknown> })
    }
  }
  return merged
}

/** POSIX-locale ordering: compare by code units (bytes for ASCII). */
function posixCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The entry whose regexp matches the whole name. The longest regexp wins; among equals, the one
 * that sorts first in the POSIX locale.
 */
export function matchXdg(name: string, entries: Map<string, { file: string; value: Record<string, unknown> }>): XdgMatch | undefined {
  const matches: XdgMatch[] = []
  for (const [key, { file, value }] of entries) {
    let re: RegExp
    try {
      re = new RegExp(`^(?:${key})$`)
    } catch (err) {
      throw new OcisiteError('CONFIG_INVALID', `${file}: "${key}" is not a valid regular expression`, { file }, { cause: err })
    }
    if (re.test(name)) matches.push({ key, file, refEngines: value })
  }
  matches.sort((a, b) => b.key.length - a.key.length || posixCompare(a.key, b.key))
  return matches[0]
}

export function fileUrl(file: string): string {
  return pathToFileURL(file).toString()
}

import { OcisiteError } from '../errors.js'
import type { ImageName } from '../oci/image-name.js'
import { MediaType } from '../oci/media-types.js'
import { engineList, WELL_KNOWN_PATH, type EngineConfig } from '../oci/engines.js'
import type { ClientListener } from './events.js'
import { fetchJson, type HttpOptions } from '../http/client.js'
import { fileUrl, matchXdg, readXdgDiscovery } from './xdg.js'

/** A ref-engines object and the URI of the document that carried it (the base for relative URIs). */
export interface RefEnginesSource {
  uri: string
  origin: 'xdg' | 'well-known'
  refEngines: EngineConfig[]
  casEngines: EngineConfig[]
}

export interface DiscoveryOptions extends HttpOptions {
  /** URL schemes to try, in order (default https only). */
  protocols?: Array<'https' | 'http'>
  /** Port for the well-known URI (default: the scheme's). */
  port?: number
  env?: NodeJS.ProcessEnv
  onEvent?: ClientListener
}

/** The host, then its DNS ancestors, stopping before the last label. IP hosts have no ancestors. */
export function hostAndAncestors(name: Pick<ImageName, 'host' | 'hostKind'>): string[] {
  if (name.hostKind !== 'reg-name') return [name.host]
  const labels = name.host.split('.')
  const out = [name.host]
  for (let i = 1; i < labels.length - 1; i++) out.push(labels.slice(i).join('.'))
  return out
}

export function wellKnownUrl(protocol: string, host: string, port: number | undefined): string {
  return `${protocol}://${host}${port ? `:${port}` : ''}${WELL_KNOWN_PATH}`
}

/**
 * Discovery sources for a name, lazily: local XDG configuration first, then the well-known
 * document of the host and each ancestor, for each protocol in order. Failed attempts are
 * reported as events and collected in `failures`.
 */
export async function* discoverySources(name: ImageName, options: DiscoveryOptions, failures: string[]): AsyncGenerator<RefEnginesSource> {
  const xdg = matchXdg(name.name, await readXdgDiscovery(options.env ?? process.env))
  if (xdg) {
    const uri = fileUrl(xdg.file)
    options.onEvent?.({ type: 'source', uri: `${xdg.file} [${xdg.key}]`, origin: 'xdg' })
    yield { uri, origin: 'xdg', refEngines: engineList(xdg.refEngines.refEngines), casEngines: engineList(xdg.refEngines.casEngines) }
  }
  for (const host of hostAndAncestors(name)) {
    for (const protocol of options.protocols ?? ['https']) {
      const url = wellKnownUrl(protocol, host, options.port)
      try {
        const doc = await fetchJson(url, [MediaType.refEngines], options)
        options.onEvent?.({ type: 'attempt', url, ok: true })
        options.onEvent?.({ type: 'source', uri: doc.url, origin: 'well-known' })
        yield { uri: doc.url, origin: 'well-known', refEngines: engineList(doc.body.refEngines), casEngines: engineList(doc.body.casEngines) }
      } catch (err) {
        // Credentials missing or refused: the answer, not a reason to try the next host.
        if (!(err instanceof OcisiteError) || err.code === 'AUTH_FAILED') throw err
        failures.push(err.message)
        options.onEvent?.({ type: 'attempt', url, ok: false, error: err.message })
      }
    }
  }
}

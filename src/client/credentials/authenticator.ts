import type { Authenticator } from '../../http/auth.js'
import { authFailedError } from './auth-error.js'
import { shouldSend } from './challenge.js'
import type { Credential } from './credential.js'
import { credentialResolver, type CredentialSources } from './find.js'

export interface AuthenticatorOptions extends CredentialSources {
  /**
   * The sites the user named on the command line (`https://example.com`, `http://localhost:8080`):
   * `--user` and `OCISITE_*` credentials go to their scheme, host and port only.
   */
  sites?: string[]
  /** `--insecure-auth`: allow Basic over plain HTTP to hosts that are not loopback. */
  insecureAuth?: boolean
}

/** The site named on the command line that `url` is on (same host and port), if any. */
function namedSite(sites: string[], url: URL): string | undefined {
  const port = (u: URL) => u.port || (u.protocol === 'https:' ? '443' : '80')
  return sites.find((s) => {
    const site = new URL(s)
    return site.hostname.toLowerCase() === url.hostname.toLowerCase() && port(site) === port(url)
  })
}

/**
 * The HTTP client's answer to a 401, for every client command: credentials are looked up per
 * host and port (in the order of findCredential), sent only after a challenge that names Basic,
 * never over plain HTTP but to loopback (or with --insecure-auth), and a refusal names the host
 * and where the credentials came from. Nothing is written anywhere.
 */
export function credentialAuthenticator(options: AuthenticatorOptions = {}): Authenticator {
  const find = credentialResolver(options)
  const sites = options.sites ?? []
  /** The credential each origin was given, for the refusal's message. */
  const given = new Map<string, Credential>()
  const query = (url: URL) => {
    const site = namedSite(sites, url)
    return { url, ...(site ? { site } : {}) }
  }
  return {
    async answer(url, challenge) {
      const decision = shouldSend(url, challenge, { insecureAuth: options.insecureAuth ?? false })
      if (!decision.send) {
        const credential = decision.reason === 'plain-http' ? await find(query(url)) : undefined
        throw authFailedError(url, { kind: 'withheld', decision, credential })
      }
      const credential = await find(query(url))
      if (!credential) throw authFailedError(url, { kind: 'missing', realm: decision.realm })
      given.set(url.origin, credential)
      return credential.authorization()
    },
    refused(url, status) {
      const credential = given.get(url.origin)
      return credential ? authFailedError(url, { kind: 'refused', status, credential }) : authFailedError(url, { kind: 'missing' })
    },
  }
}

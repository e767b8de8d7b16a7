import type { OcisiteError } from '../errors.js'

/**
 * What the HTTP client asks when a server answers 401. The client's credentials module
 * (client/credentials/authenticator.ts) implements it: where credentials come from, whether they
 * may go out, and the AUTH_FAILED errors. This layer only retries, in one place for every command.
 */
export interface Authenticator {
  /**
   * `url` answered 401 with these WWW-Authenticate values: the Authorization value to retry with.
   * Throws AUTH_FAILED when none was found or it may not be sent (no Basic challenge, plain HTTP).
   */
  answer(url: URL, challenge: string | string[] | undefined): Promise<string>
  /** `url` refused what `answer` gave (401 or 403 again): the error to throw. */
  refused(url: URL, status: number): OcisiteError
}

/**
 * The Authorization values each origin (scheme, host and port) accepted, per authenticator: sent
 * up front to that origin only, so a pull does not pay a 401 for every blob, and a redirect to
 * another host, port or scheme never carries them.
 */
const accepted = new WeakMap<Authenticator, Map<string, string>>()

/** The Authorization value `url`'s origin accepted before, if any. */
export function acceptedAuthorization(auth: Authenticator | undefined, url: URL): string | undefined {
  return auth ? accepted.get(auth)?.get(url.origin) : undefined
}

export function rememberAuthorization(auth: Authenticator, url: URL, authorization: string): void {
  let byOrigin = accepted.get(auth)
  if (!byOrigin) accepted.set(auth, (byOrigin = new Map()))
  byOrigin.set(url.origin, authorization)
}

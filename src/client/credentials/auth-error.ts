import { OcisiteError } from '../../errors.js'
import type { SendDecision } from './challenge.js'
import type { Credential } from './credential.js'
import { redactUrl } from './redact.js'

/** Why authentication failed, as the HTTP layer saw it. */
export type AuthFailure =
  /** A 401 asked for Basic and no source had credentials for the host. */
  | { kind: 'missing'; realm?: string | undefined }
  /** The credentials were sent and the server answered 401 or 403 again. */
  | { kind: 'refused'; status: number; credential: Credential }
  /** shouldSend said no: credentials exist (or were asked for) but may not go out. */
  | { kind: 'withheld'; decision: Extract<SendDecision, { send: false }>; credential?: Credential | undefined }

const withheldWhy = {
  'plain-http': 'over plain HTTP to a host that is not loopback; use https, or --insecure-auth if this network is trusted',
  'not-basic': 'because it asks for an authentication scheme other than Basic, which ocisite does not speak',
  'no-challenge': 'because its 401 names no authentication scheme (no WWW-Authenticate header)',
  'not-http': 'because the URL is not http or https',
} as const

/**
 * The one-line AUTH_FAILED error (exit code 7) for a host: which host, what happened, and where
 * the credentials came from, never the secret (nor the username).
 */
export function authFailedError(url: string | URL, failure: AuthFailure, cause?: unknown): OcisiteError {
  const u = new URL(url.toString())
  const host = u.host
  const context = { url: redactUrl(u), host }
  const options = cause === undefined ? undefined : { cause }
  switch (failure.kind) {
    case 'missing': {
      const realm = failure.realm ? ` (realm "${failure.realm}")` : ''
      return new OcisiteError('AUTH_FAILED', `${host} asks for a username and password${realm} and none were found: use --user with --password-stdin, OCISITE_USERNAME and OCISITE_PASSWORD, podman login or docker login, or ~/.netrc`, context, options)
    }
    case 'refused':
      return new OcisiteError('AUTH_FAILED', `${host} refused the credentials from ${failure.credential.source} (HTTP ${failure.status})`, { ...context, source: failure.credential.source }, options)
    case 'withheld': {
      const what = failure.credential ? `the credentials from ${failure.credential.source}` : 'credentials'
      return new OcisiteError('AUTH_FAILED', `${host} asks for credentials; not sending ${what} ${withheldWhy[failure.decision.reason]}`, context, options)
    }
  }
}

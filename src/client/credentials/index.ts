/** Client credentials for private sites (issue 27): where they come from, and when they may go out. */
export { Credential, targetOf, registryHostname, authority, type CredentialTarget } from './credential.js'
export { explicitCredential, envCredential, readPasswordStdin } from './explicit.js'
export { findCredential, credentialResolver, containersAuthFiles, dockerConfigFile, type CredentialQuery, type CredentialSources } from './find.js'
export { credentialFromHelper, parseHelperOutput } from './helper.js'
export { parseNetrc, netrcEntryFor, type NetrcEntry } from './netrc.js'
export { parseWwwAuthenticate, basicChallenge, shouldSend, mayForward, isLoopback, type Challenge, type SendDecision, type AuthPolicyOptions } from './challenge.js'
export { redact, redactHeaders, redactUrl, registerSecrets, REDACTED } from './redact.js'
export { authFailedError, type AuthFailure } from './auth-error.js'

/** Codes for the user errors ocisite reports. Anything thrown that is not an OcisiteError is a bug. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'INPUT_NOT_FOUND'
  | 'LAYOUT_INVALID'
  | 'JSON_INVALID'
  | 'BLOB_MISSING'
  | 'BLOB_NOT_REGULAR'
  | 'SIZE_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'DIGEST_INVALID'
  | 'ARCHIVE_UNSAFE'
  | 'PATH_INVALID'
  | 'TAG_INVALID'
  | 'TAG_CONFLICT'
  | 'PATH_CONFLICT'
  | 'NOTHING_TO_PUBLISH'
  | 'NAME_INVALID'
  | 'NOT_FOUND'
  | 'NETWORK'
  | 'PROTOCOL'
  | 'OUT_UNSAFE'
  | 'SITE_LOCKED'
  | 'STATE_INVALID'
  | 'TOO_LARGE'
  | 'NOT_A_SITE'
  | 'VERIFY_FAILED'
  | 'ARTIFACT_UNSAFE'
  | 'LISTEN_FAILED'
  | 'AUTH_FAILED'
  | 'KEY_INVALID'
  | 'POLICY_INVALID'
  | 'SIGNATURE_INVALID'
  | 'SIGNING_FAILED'
  | 'SIGNATURE_REFUSED'

/** Process exit codes, the one place they are defined. */
export enum ExitCode {
  Ok = 0,
  /** A bug: an unexpected exception. */
  Internal = 1,
  /** Bad usage or bad input (layouts, config, names). */
  Input = 2,
  /** The name or tag does not exist on the site that was reached. */
  NotFound = 3,
  /** The network failed or a server broke the protocol. */
  Remote = 4,
  /** `verify` reached the site and found problems with what it serves. */
  Problems = 5,
  /**
   * A signature policy refused the content: no signature, unknown key, bad signature, digest
   * mismatch or identity mismatch. Nothing was written.
   */
  SignatureRefused = 6,
  /**
   * A site asked for credentials and none were found, they were refused (401/403), or they could
   * not be sent safely (plain HTTP to a host that is not loopback, without --insecure-auth).
   * The message names the host and where the credentials came from, never the secret.
   */
  Auth = 7,
}

const exitCodes: Partial<Record<ErrorCode, ExitCode>> = {
  NOT_FOUND: ExitCode.NotFound,
  NETWORK: ExitCode.Remote,
  PROTOCOL: ExitCode.Remote,
  VERIFY_FAILED: ExitCode.Problems,
  // An artifact that would write outside its directory is the server's bad content.
  ARTIFACT_UNSAFE: ExitCode.Remote,
  AUTH_FAILED: ExitCode.Auth,
  // KEY_INVALID (a key file, passphrase or keyring), POLICY_INVALID (a policy or registries.d
  // file), SIGNATURE_INVALID (a signature file given as input) and SIGNING_FAILED (gpg refused to
  // sign) are the user's input: exit 2.
  SIGNATURE_REFUSED: ExitCode.SignatureRefused,
}

/** A user-facing error: one clear line, a code, and the context at fault. */
export class OcisiteError extends Error {
  override readonly name = 'OcisiteError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  get exitCode(): ExitCode {
    return exitCodes[this.code] ?? ExitCode.Input
  }
}

export function isOcisiteError(err: unknown): err is OcisiteError {
  return err instanceof OcisiteError
}

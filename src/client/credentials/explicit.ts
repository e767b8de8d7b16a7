import type { Readable } from 'node:stream'
import { OcisiteError } from '../../errors.js'
import { Credential } from './credential.js'

/** The most a password read from stdin may be: a token is a few KiB; anything larger is a mistake. */
export const MAX_PASSWORD_BYTES = 64 * 1024

/**
 * Read a password from a stream (`--password-stdin`): everything up to EOF, less one trailing
 * newline (`\n` or `\r\n`), as `docker login --password-stdin` does. An empty password is refused.
 */
export async function readPasswordStdin(input: Readable): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer)
    size += buf.byteLength
    if (size > MAX_PASSWORD_BYTES) {
      throw new OcisiteError('CONFIG_INVALID', `--password-stdin: more than ${MAX_PASSWORD_BYTES} bytes on standard input; pipe only the password`, {})
    }
    chunks.push(buf)
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (password === '') {
    throw new OcisiteError('CONFIG_INVALID', '--password-stdin: standard input was empty; pipe the password in (e.g. printf %s "$TOKEN" | ocisite … --password-stdin)', {})
  }
  return password
}

/** The credential given on the command line: `--user USER` with the password from `--password-stdin`. */
export function explicitCredential(user: string, password: string): Credential {
  if (user === '') throw new OcisiteError('CONFIG_INVALID', '--user: the username is empty', {})
  return new Credential(user, password, '--user')
}

/**
 * `OCISITE_USERNAME` and `OCISITE_PASSWORD`: both or neither. One without the other is a mistake
 * worth stopping for (falling through to other sources would hide it).
 */
export function envCredential(env: NodeJS.ProcessEnv): Credential | undefined {
  const username = env.OCISITE_USERNAME
  const password = env.OCISITE_PASSWORD
  if (username === undefined && password === undefined) return undefined
  if (!username || password === undefined || password === '') {
    const missing = !username ? 'OCISITE_USERNAME' : 'OCISITE_PASSWORD'
    throw new OcisiteError('CONFIG_INVALID', `${missing} is empty or unset while the other is set; set both, or neither`, { variable: missing })
  }
  return new Credential(username, password, 'OCISITE_USERNAME/OCISITE_PASSWORD')
}

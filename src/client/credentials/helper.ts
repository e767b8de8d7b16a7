import { spawn } from 'node:child_process'
import { OcisiteError } from '../../errors.js'
import { Credential } from './credential.js'
import { redact } from './redact.js'

/** What a helper prints when it has nothing for the server (docker-credential-helpers' ErrCredentialsNotFound). */
export const NOT_FOUND_MESSAGE = 'credentials not found in native keychain'

const MAX_OUTPUT = 1024 * 1024

/** How long a helper may take; a keychain may ask for a passphrase, so it is generous. */
export const HELPER_TIMEOUT_MS = 60_000

export interface HelperOptions {
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  /** How messages say why this helper was asked: "credsStore in ~/.docker/config.json". */
  via: string
}

interface HelperRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Why we killed it, if we did. */
  killed?: 'timeout' | 'overflow'
}

function run(command: string, input: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let size = 0
    let killed: HelperRun['killed']
    const kill = (why: NonNullable<HelperRun['killed']>) => {
      killed ??= why
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => kill('timeout'), timeoutMs)
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.byteLength
      if (size <= MAX_OUTPUT) into.push(chunk)
      else kill('overflow')
    }
    child.stdout.on('data', collect(out))
    child.stderr.on('data', collect(err))
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    // A helper that exits without reading its input makes the write fail with EPIPE: its exit status tells the story.
    child.stdin.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e)
    })
    child.stdin.end(input)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ...(killed ? { killed } : {}) })
    })
  })
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? ''
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

/**
 * Ask a docker credential helper (`docker-credential-NAME get`, the docker-credential-helpers
 * protocol) for the server's credentials: the server address goes on stdin, `{ServerURL,
 * Username, Secret}` comes back on stdout. "Not found" (the helper's message, with any exit
 * status) is undefined; a helper that is missing, fails or times out is an AUTH_FAILED error.
 * A `<token>` username is an identity token for bearer flows, useless for Basic: undefined.
 */
export async function credentialFromHelper(name: string, serverAddress: string, options: HelperOptions): Promise<Credential | undefined> {
  const command = `docker-credential-${name}`
  const where = `${command} (${options.via})`
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new OcisiteError('CONFIG_INVALID', `${options.via}: ${JSON.stringify(name)} is not a credential helper name`, { helper: name })
  }
  let result: HelperRun
  try {
    result = await run(command, serverAddress, options.env ?? process.env, options.timeoutMs ?? HELPER_TIMEOUT_MS)
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is not on PATH' : `could not be started (${(err as Error).message})`
    throw new OcisiteError('AUTH_FAILED', `${where} ${why}`, { helper: command, server: serverAddress }, { cause: err })
  }
  if (result.killed) {
    const why = result.killed === 'timeout' ? `gave no answer within ${(options.timeoutMs ?? HELPER_TIMEOUT_MS) / 1000} s` : `printed more than ${MAX_OUTPUT} bytes`
    throw new OcisiteError('AUTH_FAILED', `${where} ${why}`, { helper: command, server: serverAddress })
  }
  if (result.stdout.includes(NOT_FOUND_MESSAGE) || result.stderr.includes(NOT_FOUND_MESSAGE)) return undefined
  if (result.code !== 0) {
    const status = result.code === null ? `signal ${result.signal}` : `exit status ${result.code}`
    const why = `failed (${status}): ${redact(firstLine(result.stderr || result.stdout))}`
    throw new OcisiteError('AUTH_FAILED', `${where} ${why}`, { helper: command, server: serverAddress })
  }
  return parseHelperOutput(result.stdout, where)
}

/** Parse a helper's `get` answer. */
export function parseHelperOutput(stdout: string, where: string): Credential | undefined {
  let value: unknown
  try {
    value = JSON.parse(stdout)
  } catch (err) {
    // The answer holds the secret: the parser's message (which quotes it) is not kept.
    if (!(err instanceof SyntaxError)) throw err
    throw new OcisiteError('AUTH_FAILED', `${where} answered with something that is not JSON`, {})
  }
  const doc = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  const { Username: username, Secret: secret } = doc
  if (typeof username !== 'string' || typeof secret !== 'string') {
    throw new OcisiteError('AUTH_FAILED', `${where} answered without a Username and Secret`, {})
  }
  if (username === '<token>' || username === '' || secret === '') return undefined
  return new Credential(username, secret, where)
}

import { spawn } from 'node:child_process'
import { OcisiteError } from '../errors.js'

/** How to reach gpg: its home (GNUPGHOME) and, for a protected key, a passphrase file. */
export interface GpgOptions {
  /** The GnuPG home; default: gpg's own ($GNUPGHOME or ~/.gnupg). */
  readonly gnupgHome?: string
  /** A file whose first line is the key's passphrase (gpg's loopback pinentry reads it). */
  readonly passphraseFile?: string
  /** The gpg binary; default `gpg`. */
  readonly binary?: string
}

/**
 * Sign `payload` with the key `fingerprint` as skopeo's `--sign-by` does (through gpgme): a
 * normal, non-detached, binary OpenPGP message that holds the payload. OpenPGP signatures carry
 * their creation time, so signing again gives other bytes: callers skip digests the key already
 * signed (`findGpgSignature`).
 */
export async function gpgSign(payload: Uint8Array, fingerprint: string, options: GpgOptions = {}): Promise<Buffer> {
  if (!/^[0-9A-Fa-f]{16,64}$|^[^-\s][^\s]*$/.test(fingerprint)) {
    throw new OcisiteError('SIGNING_FAILED', `--sign-by "${fingerprint}": not a key fingerprint`, { fingerprint })
  }
  const args = ['--batch', '--no-tty', '--sign', '--local-user', fingerprint, '--output', '-']
  if (options.passphraseFile !== undefined) args.unshift('--pinentry-mode', 'loopback', '--passphrase-file', options.passphraseFile)
  const { stdout } = await runGpg(args, payload, options, `signing with ${fingerprint}`)
  return stdout
}

/** The public key `fingerprint` exported from the keyring (binary), to check existing signatures. */
export async function gpgExportPublicKey(fingerprint: string, options: GpgOptions = {}): Promise<Buffer> {
  const { stdout } = await runGpg(['--batch', '--no-tty', '--export', fingerprint], new Uint8Array(), options, `exporting ${fingerprint}`)
  if (stdout.length === 0) throw new OcisiteError('SIGNING_FAILED', `gpg has no public key ${fingerprint}${options.gnupgHome ? ` in ${options.gnupgHome}` : ''}`, { fingerprint })
  return stdout
}

function runGpg(args: string[], input: Uint8Array, options: GpgOptions, what: string): Promise<{ stdout: Buffer }> {
  const env = { ...process.env, ...(options.gnupgHome !== undefined ? { GNUPGHOME: options.gnupgHome } : {}) }
  const binary = options.binary ?? 'gpg'
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => reject(new OcisiteError('SIGNING_FAILED', `${what}: cannot run ${binary} (${e.message})`, {}, { cause: e })))
    child.on('close', (code) => {
      if (code === 0) return resolve({ stdout: Buffer.concat(out) })
      const lines = Buffer.concat(err).toString('utf8').trim().split('\n')
      reject(new OcisiteError('SIGNING_FAILED', `${what}: gpg exited ${code}: ${lines[lines.length - 1] ?? ''}`, { stderr: lines.join('\n') }))
    })
    // gpg may exit before reading its input (EPIPE); its exit code then says why.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(new OcisiteError('SIGNING_FAILED', `${what}: writing to gpg failed (${e.message})`, {}, { cause: e }))
    })
    child.stdin.end(Buffer.from(input))
  })
}

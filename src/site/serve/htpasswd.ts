import { createHash, timingSafeEqual } from 'node:crypto'
import { promises as fs } from 'node:fs'
import aprMd5 from 'apache-md5'
import bcrypt from 'bcryptjs'
import { OcisiteError } from '../../errors.js'

/**
 * htpasswd files (`user:hash` lines) in the formats both nginx and `ocisite serve` check:
 * bcrypt (`$2y$`, `$2b$`, `$2a$`: htpasswd -B), `{SHA}` (htpasswd -s) and apr1 (`$apr1$`:
 * htpasswd -m, openssl passwd -apr1). Anything else (crypt DES, plain text, `$5$`/`$6$`) is
 * refused when the file is read, naming the line and user: nginx would take some of them, the
 * preview server could not, and the two must agree.
 */
export type HashKind = 'bcrypt' | 'sha1' | 'apr1'

export interface HtpasswdEntry {
  user: string
  hash: string
  kind: HashKind
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/
const SHA = /^\{SHA\}[A-Za-z0-9+/]{27}=$/
const APR1 = /^\$apr1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}$/

function kindOf(hash: string): HashKind | undefined {
  if (BCRYPT.test(hash)) return 'bcrypt'
  if (SHA.test(hash)) return 'sha1'
  if (APR1.test(hash)) return 'apr1'
  return undefined
}

/** Parse htpasswd text. Blank lines and `#` comments are skipped; a user listed twice is an error. */
export function parseHtpasswd(text: string, label: string): Map<string, HtpasswdEntry> {
  const entries = new Map<string, HtpasswdEntry>()
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '')
    if (line.trim() === '' || line.startsWith('#')) continue
    const where = `${label} line ${i + 1}`
    const colon = line.indexOf(':')
    if (colon <= 0) throw new OcisiteError('CONFIG_INVALID', `${where}: not "user:hash"`, { file: label, line: i + 1 })
    const user = line.slice(0, colon)
    // nginx ends the hash at the next ":" (htpasswd files may carry a comment field after it).
    const hash = line.slice(colon + 1).split(':')[0]!
    const kind = kindOf(hash)
    if (!kind) {
      throw new OcisiteError('CONFIG_INVALID', `${where}: the password of "${user}" is not a bcrypt, {SHA} or apr1 hash (make it with htpasswd -B, or openssl passwd -apr1)`, { file: label, line: i + 1, user })
    }
    if (entries.has(user)) throw new OcisiteError('CONFIG_INVALID', `${where}: "${user}" is listed twice`, { file: label, line: i + 1, user })
    entries.set(user, { user, hash, kind })
  }
  if (entries.size === 0) throw new OcisiteError('CONFIG_INVALID', `${label}: no users in it`, { file: label })
  return entries
}

/** Read and check an htpasswd file (`--auth-basic FILE`). */
export async function loadHtpasswd(file: string): Promise<Map<string, HtpasswdEntry>> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new OcisiteError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'CONFIG_INVALID', `--auth-basic ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`}`, { file }, { cause: err })
  }
  return parseHtpasswd(text, `--auth-basic ${file}`)
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Whether a password (as sent: UTF-8) matches an entry's hash. */
export async function verifyPassword(password: string, entry: Pick<HtpasswdEntry, 'hash' | 'kind'>): Promise<boolean> {
  switch (entry.kind) {
    case 'bcrypt':
      return bcrypt.compare(password, entry.hash)
    case 'sha1':
      return sameText(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, entry.hash)
    case 'apr1':
      // apache-md5 hashes the string with Node's 'ascii' encoding (each code unit's low byte);
      // handing it the UTF-8 bytes as a latin1 string makes it hash exactly those bytes, as
      // htpasswd, openssl and nginx do.
      return sameText(aprMd5(Buffer.from(password, 'utf8').toString('latin1'), entry.hash), entry.hash)
  }
}

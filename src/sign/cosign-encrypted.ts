import { scrypt } from 'node:crypto'
import { secretbox } from '@noble/ciphers/salsa.js'
import { OcisiteError } from '../errors.js'

/** The PEM labels cosign writes around an encrypted private key (the second is the older one). */
export const COSIGN_KEY_LABELS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'] as const

/**
 * The scrypt parameters go-securesystemslib's `encrypted` package accepts: legacy (cosign's own
 * keys), standard and OWASP. Anything else is refused rather than run (N is the memory knob).
 */
const SCRYPT_PARAMS = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
]

interface Envelope {
  salt: Buffer
  params: { N: number; r: number; p: number }
  nonce: Buffer
  ciphertext: Buffer
}

/**
 * Decrypt the body of a cosign encrypted key (the JSON envelope of go-securesystemslib's
 * `encrypted` package: scrypt, then NaCl secretbox) into the PKCS#8 DER it holds.
 */
export async function decryptCosignKey(json: Uint8Array, passphrase: string, where: string): Promise<Buffer> {
  const envelope = parseEnvelope(json, where)
  const key = await deriveKey(passphrase, envelope)
  let plain: Uint8Array
  try {
    plain = secretbox(key, envelope.nonce).open(envelope.ciphertext)
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${where}: wrong passphrase for this cosign key (decryption failed)`, { file: where }, { cause: err })
  }
  return Buffer.from(plain)
}

function deriveKey(passphrase: string, envelope: Envelope): Promise<Buffer> {
  const { N, r, p } = envelope.params
  // 128·N·r bytes of memory: 128 MiB at the OWASP level, over node's 32 MiB default.
  const maxmem = 256 * 1024 * 1024
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(passphrase, 'utf8'), envelope.salt, 32, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

function parseEnvelope(json: Uint8Array, where: string): Envelope {
  const bad = (what: string): OcisiteError => new OcisiteError('KEY_INVALID', `${where}: not a cosign encrypted key (${what})`, { file: where })
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(json).toString('utf8'))
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${where}: not a cosign encrypted key (the body is not JSON)`, { file: where }, { cause: err })
  }
  const d = doc as { kdf?: { name?: unknown; params?: Record<string, unknown>; salt?: unknown }; cipher?: { name?: unknown; nonce?: unknown }; ciphertext?: unknown }
  if (d?.kdf?.name !== 'scrypt') throw bad(`kdf is ${JSON.stringify(d?.kdf?.name)}, want "scrypt"`)
  if (d.cipher?.name !== 'nacl/secretbox') throw bad(`cipher is ${JSON.stringify(d.cipher?.name)}, want "nacl/secretbox"`)
  const params = d.kdf.params ?? {}
  const known = SCRYPT_PARAMS.find((k) => k.N === params.N && k.r === params.r && k.p === params.p)
  if (!known) throw bad(`unsupported scrypt parameters ${JSON.stringify(params)}`)
  const salt = base64Field(d.kdf.salt, 'kdf.salt', bad)
  const nonce = base64Field(d.cipher.nonce, 'cipher.nonce', bad)
  if (nonce.length !== 24) throw bad(`the nonce is ${nonce.length} bytes, want 24`)
  const ciphertext = base64Field(d.ciphertext, 'ciphertext', bad)
  return { salt, params: known, nonce, ciphertext }
}

function base64Field(value: unknown, name: string, bad: (what: string) => OcisiteError): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw bad(`${name} is not base64`)
  return Buffer.from(value, 'base64')
}

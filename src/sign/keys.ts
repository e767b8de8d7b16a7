import { constants, createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { OcisiteError } from '../errors.js'
import { COSIGN_KEY_LABELS, decryptCosignKey } from './cosign-encrypted.js'

/**
 * The key types cosign signs with by default, as openssl makes them: ECDSA P-256 with SHA-256
 * (ASN.1 DER signatures), RSA with PKCS#1 v1.5 and SHA-256, and Ed25519 (pure).
 */
export type KeyAlgorithm = 'ecdsa-p256' | 'rsa' | 'ed25519'

/** A public key to verify cosign signatures with. */
export interface VerifyingKey {
  readonly key: KeyObject
  readonly algorithm: KeyAlgorithm
  /** cosign's key hint: base64 of the SHA-256 of the SubjectPublicKeyInfo DER. */
  readonly hint: string
  /** Where the key came from (a file, a policy entry), for messages. */
  readonly label: string
}

/** A private key to sign with, and its public half. */
export interface SigningKey {
  readonly privateKey: KeyObject
  readonly publicKey: VerifyingKey
  readonly algorithm: KeyAlgorithm
  /** The public key as PEM (SPKI), as `cosign public-key` prints it. */
  readonly publicKeyPem: string
}

/** The algorithm of a key, or KEY_INVALID naming `where` for a type cosign does not sign with. */
export function algorithmOf(key: KeyObject, where: string): KeyAlgorithm {
  const type = key.asymmetricKeyType
  if (type === 'ed25519') return 'ed25519'
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < 2048) throw new OcisiteError('KEY_INVALID', `${where}: RSA key of ${bits} bits; at least 2048 are needed`, { file: where })
    return 'rsa'
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return 'ecdsa-p256'
    throw new OcisiteError('KEY_INVALID', `${where}: EC key on curve ${curve}; only P-256 (prime256v1) is supported`, { file: where })
  }
  throw new OcisiteError('KEY_INVALID', `${where}: ${type} key; use ECDSA P-256, RSA or Ed25519`, { file: where })
}

/** Parse a PEM (or DER SPKI) public key into a VerifyingKey. */
export function parsePublicKey(pem: string | Uint8Array, label: string): VerifyingKey {
  let key: KeyObject
  try {
    key = typeof pem === 'string' || looksLikePem(pem) ? createPublicKey(Buffer.from(pem)) : createPublicKey({ key: Buffer.from(pem), format: 'der', type: 'spki' })
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${label}: not a public key (${(err as Error).message})`, { file: label }, { cause: err })
  }
  return { key, algorithm: algorithmOf(key, label), hint: keyHint(key), label }
}

/** cosign's (and sigstore-go's) hint for a public key: base64(sha256(SPKI DER)). */
export function keyHint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('base64')
}

/**
 * Load a private key: PEM as openssl writes it (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA
 * PRIVATE KEY`, or PKCS#8 `ENCRYPTED PRIVATE KEY`), or cosign's encrypted format. `passphrase`
 * is needed for the encrypted forms; see `passphraseFrom` for where it comes from.
 */
export async function loadSigningKey(pem: Uint8Array, where: string, passphrase?: string): Promise<SigningKey> {
  const text = Buffer.from(pem).toString('utf8')
  const cosign = COSIGN_KEY_LABELS.map((label) => pemBody(text, label)).find((body) => body !== undefined)
  let privateKey: KeyObject
  if (cosign) {
    if (passphrase === undefined) throw needsPassphrase(where)
    const der = await decryptCosignKey(cosign, passphrase, where)
    privateKey = createKey(() => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), where)
  } else {
    if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') && passphrase === undefined) throw needsPassphrase(where)
    privateKey = createKey(() => createPrivateKey(passphrase === undefined ? text : { key: text, passphrase }), where)
  }
  const algorithm = algorithmOf(privateKey, where)
  const publicKeyObject = createPublicKey(privateKey)
  const publicKey: VerifyingKey = { key: publicKeyObject, algorithm, hint: keyHint(publicKeyObject), label: where }
  return { privateKey, publicKey, algorithm, publicKeyPem: publicKeyObject.export({ format: 'pem', type: 'spki' }).toString() }
}

/** Sign bytes as cosign does for the key's type (see KeyAlgorithm). */
export function signBytes(key: SigningKey, data: Uint8Array): Buffer {
  if (key.algorithm === 'ed25519') return sign(null, data, key.privateKey)
  if (key.algorithm === 'rsa') return sign('sha256', data, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING })
  return sign('sha256', data, { key: key.privateKey, dsaEncoding: 'der' })
}

/** Whether `signature` is a valid signature of `data` by `key` (false for malformed signatures). */
export function verifyBytes(key: VerifyingKey, data: Uint8Array, signature: Uint8Array): boolean {
  if (key.algorithm === 'ed25519') return signature.length === 64 && verify(null, data, key.key, signature)
  if (key.algorithm === 'rsa') return verify('sha256', data, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature)
  return verify('sha256', data, { key: key.key, dsaEncoding: 'der' }, signature)
}

/** Whether an algorithm gives the same signature bytes for the same key and data every time. */
export function isDeterministic(algorithm: KeyAlgorithm): boolean {
  return algorithm !== 'ecdsa-p256'
}

/**
 * The passphrase for an encrypted key, read as cosign and skopeo read it: the first line of
 * the passphrase file's text when given, else `$COSIGN_PASSWORD` (set but empty is an empty passphrase), else none.
 */
export function passphraseFrom(source: { fileText?: string; env: Record<string, string | undefined> }): string | undefined {
  if (source.fileText !== undefined) return source.fileText.split(/\r?\n/, 1)[0] ?? ''
  return source.env.COSIGN_PASSWORD
}

function pemBody(text: string, label: string): Buffer | undefined {
  const begin = `-----BEGIN ${label}-----`
  const start = text.indexOf(begin)
  if (start === -1) return undefined
  const end = text.indexOf(`-----END ${label}-----`, start)
  if (end === -1) return undefined
  return Buffer.from(text.slice(start + begin.length, end).replace(/\s+/g, ''), 'base64')
}

function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 64)).toString('latin1').includes('-----BEGIN')
}

function createKey(make: () => KeyObject, where: string): KeyObject {
  try {
    return make()
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${where}: not a usable private key (${(err as Error).message})`, { file: where }, { cause: err })
  }
}

function needsPassphrase(where: string): OcisiteError {
  return new OcisiteError('KEY_INVALID', `${where}: the key is encrypted; set COSIGN_PASSWORD or pass --passphrase-file`, { file: where })
}

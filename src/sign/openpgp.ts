import * as openpgp from 'openpgp'
import { OcisiteError } from '../errors.js'
import { rejected, type SignatureCheck } from './check.js'
import { ATOMIC_SIGNATURE_TYPE, parseSimpleSigning } from './payload.js'

/** Public keys from one keyring (a policy's keyPath file or keyData), with where they came from. */
export interface Keyring {
  readonly keys: readonly openpgp.PublicKey[]
  readonly label: string
}

const ARMOR = '-----BEGIN PGP PUBLIC KEY BLOCK-----'

/**
 * Read a keyring as `gpg --export` writes it: binary (one or more keys back to back) or
 * armored (one or more blocks). Throws KEY_INVALID naming `label`.
 */
export async function readKeyring(bytes: Uint8Array, label: string): Promise<Keyring> {
  const text = Buffer.from(bytes).toString('latin1')
  let keys: openpgp.Key[]
  try {
    if (text.includes(ARMOR)) {
      const blocks = text.split(ARMOR).slice(1).map((b) => ARMOR + b)
      keys = (await Promise.all(blocks.map((armoredKeys) => openpgp.readKeys({ armoredKeys })))).flat()
    } else {
      keys = await openpgp.readKeys({ binaryKeys: Buffer.from(bytes) })
    }
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${label}: not an OpenPGP keyring (${(err as Error).message})`, { file: label }, { cause: err })
  }
  if (keys.length === 0) throw new OcisiteError('KEY_INVALID', `${label}: the keyring holds no key`, { file: label })
  return { keys: keys.map((k) => k.toPublic()), label }
}

/** The fingerprint of each primary key in keyrings, upper-case hex as gpg prints it. */
export function fingerprints(keyrings: readonly Keyring[]): string[] {
  return keyrings.flatMap((r) => r.keys.map((k) => k.getFingerprint().toUpperCase()))
}

/**
 * Check that a signature file is an OpenPGP signed message (what `skopeo --sign-by` writes), so
 * a bad file in a lookaside staging tree is refused before publishing, naming the file.
 */
export async function checkOpenPgpMessage(bytes: Uint8Array, file: string): Promise<void> {
  let ids: openpgp.KeyID[]
  try {
    const message = await readMessage(bytes)
    ids = message.getSigningKeyIDs()
  } catch (err) {
    throw new OcisiteError('SIGNATURE_INVALID', `${file}: not an OpenPGP message (${(err as Error).message})`, { file }, { cause: err })
  }
  if (ids.length === 0) throw new OcisiteError('SIGNATURE_INVALID', `${file}: an OpenPGP message with no signature`, { file })
}

function readMessage(bytes: Uint8Array): Promise<openpgp.Message<Uint8Array | string>> {
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1')
  if (head.includes('-----BEGIN PGP MESSAGE-----')) return openpgp.readMessage({ armoredMessage: Buffer.from(bytes).toString('utf8') })
  return openpgp.readMessage({ binaryMessage: Buffer.from(bytes) })
}

/** A containers signature as found in a lookaside: its bytes and where they came from. */
export interface GpgCandidate {
  readonly kind: 'gpg'
  readonly source: string
  readonly signature: Uint8Array
}

/**
 * Check a containers signature as containers/image does: one OpenPGP signature, by a key in
 * `keyrings`, over a strict "atomic container signature" payload whose digest is `manifestDigest`.
 * The identity it claims is returned for the policy to judge.
 */
export async function checkGpgSignature(candidate: GpgCandidate, keyrings: readonly Keyring[], manifestDigest: string): Promise<SignatureCheck> {
  const { source } = candidate
  let message: openpgp.Message<Uint8Array | string>
  try {
    message = await readMessage(candidate.signature)
  } catch (err) {
    return rejected(source, 'bad signature', `not an OpenPGP message (${(err as Error).message})`)
  }
  const ids = message.getSigningKeyIDs()
  if (ids.length !== 1) return rejected(source, 'bad signature', `${ids.length} signatures in the message, want 1`)
  const keyID = ids[0]!
  const key = keyrings.flatMap((r) => r.keys).find((k) => k.getKeys(keyID).length > 0)
  if (!key) return rejected(source, 'unknown key', `signed by key ID ${keyID.toHex().toUpperCase()}, not in the policy's keyring`)
  let content: Uint8Array
  try {
    const result = await openpgp.verify({ message, verificationKeys: [key], format: 'binary', expectSigned: true })
    content = result.data
  } catch (err) {
    return rejected(source, 'bad signature', (err as Error).message)
  }
  return checkAtomicPayload(source, content, manifestDigest, key.getFingerprint().toUpperCase())
}

function checkAtomicPayload(source: string, content: Uint8Array, manifestDigest: string, fingerprint: string): SignatureCheck {
  let claim
  try {
    claim = parseSimpleSigning(content, source)
  } catch (err) {
    return rejected(source, 'bad signature', (err as Error).message)
  }
  if (claim.type !== ATOMIC_SIGNATURE_TYPE) return rejected(source, 'bad signature', `the payload type is "${claim.type}", not a containers signature`)
  if (claim.manifestDigest !== manifestDigest) return rejected(source, 'digest mismatch', `signed ${claim.manifestDigest}`)
  return { ok: true, source, key: fingerprint, dockerReference: claim.dockerReference }
}

/**
 * The existing signature `keyring` validly made for `manifestDigest` claiming `dockerReference`,
 * if any: the caller skips re-signing, so a rebuild leaves the lookaside byte-identical.
 */
export async function findGpgSignature(candidates: readonly GpgCandidate[], keyring: Keyring, manifestDigest: string, dockerReference: string): Promise<GpgCandidate | undefined> {
  for (const c of candidates) {
    const check = await checkGpgSignature(c, [keyring], manifestDigest)
    if (check.ok && check.dockerReference === dockerReference) return c
  }
  return undefined
}

import { generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import { isOcisiteError } from '../../src/errors.js'
import { loadSigningKey, passphraseFrom, signBytes, verifyBytes } from '../../src/sign/keys.js'

/**
 * A key in cosign's encrypted format, made the way go-securesystemslib's `encrypted.Encrypt`
 * does (scrypt, then NaCl secretbox over the PKCS#8 DER), with tweetnacl: an implementation of
 * secretbox independent of the one ocisite uses (@noble/ciphers).
 */
function cosignEncrypted(label: string, passphrase: string, N = 32768): { pem: string; der: Buffer } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  const salt = randomBytes(32)
  const nonce = randomBytes(24)
  const key = scryptSync(passphrase, salt, 32, { N, r: 8, p: 1, maxmem: 256 * 1024 * 1024 })
  const ciphertext = nacl.secretbox(der, nonce, key)
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params: { N, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  })
  const body = Buffer.from(json).toString('base64').match(/.{1,64}/g)!.join('\n')
  return { pem: `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`, der }
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; exitCode: number }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isOcisiteError(err)) throw new Error(`expected an OcisiteError, got ${String(err)}`)
  return { code: err.code, message: err.message, exitCode: err.exitCode }
}

describe("cosign's encrypted private keys", () => {
  it.each(['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'])('%s decrypts with the passphrase to the same key', async (label) => {
    const { pem, der } = cosignEncrypted(label, 'hunter2')
    const key = await loadSigningKey(Buffer.from(pem), 'cosign.key', 'hunter2')
    expect(key.algorithm).toBe('ecdsa-p256')
    expect(key.privateKey.export({ format: 'der', type: 'pkcs8' }).equals(der)).toBe(true)
    const sig = signBytes(key, Buffer.from('payload'))
    expect(verifyBytes(key.publicKey, Buffer.from('payload'), sig)).toBe(true)
  })

  it('the stronger scrypt levels cosign accepts decrypt too', async () => {
    const { pem } = cosignEncrypted('ENCRYPTED SIGSTORE PRIVATE KEY', '', 65536)
    expect((await loadSigningKey(Buffer.from(pem), 'cosign.key', '')).algorithm).toBe('ecdsa-p256')
  })

  it.each<[string, string | undefined, string]>([
    ['a wrong passphrase', 'wrong', 'cosign.key: wrong passphrase for this cosign key (decryption failed)'],
    ['no passphrase', undefined, 'cosign.key: the key is encrypted; set COSIGN_PASSWORD or pass --passphrase-file'],
  ])('%s is refused with exit 2, naming the file', async (_name, passphrase, message) => {
    const { pem } = cosignEncrypted('ENCRYPTED SIGSTORE PRIVATE KEY', 'hunter2')
    expect(await refusal(loadSigningKey(Buffer.from(pem), 'cosign.key', passphrase))).toEqual({ code: 'KEY_INVALID', message, exitCode: 2 })
  })

  it('unknown KDF parameters are refused before running them', async () => {
    const { pem } = cosignEncrypted('ENCRYPTED SIGSTORE PRIVATE KEY', 'x', 1024)
    expect((await refusal(loadSigningKey(Buffer.from(pem), 'cosign.key', 'x'))).message).toContain('unsupported scrypt parameters')
  })
})

describe('plain keys and passphrases', () => {
  it('PKCS#8 encrypted PEM keys take the passphrase too', async () => {
    const { privateKey } = generateKeyPairSync('ed25519')
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' })
    expect((await loadSigningKey(Buffer.from(pem), 'k.pem', 'pw')).algorithm).toBe('ed25519')
    expect((await refusal(loadSigningKey(Buffer.from(pem), 'k.pem'))).message).toBe('k.pem: the key is encrypted; set COSIGN_PASSWORD or pass --passphrase-file')
  })

  it('a file that is no key is refused, naming it', async () => {
    expect(await refusal(loadSigningKey(Buffer.from('hello'), 'notakey.pem'))).toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('notakey.pem: not a usable private key') })
  })

  it.each<[string, { fileText?: string; env: Record<string, string | undefined> }, string | undefined]>([
    ['the first line of the passphrase file', { fileText: 'secret\nignored\n', env: { COSIGN_PASSWORD: 'env' } }, 'secret'],
    ['COSIGN_PASSWORD', { env: { COSIGN_PASSWORD: 'env' } }, 'env'],
    ['an empty COSIGN_PASSWORD', { env: { COSIGN_PASSWORD: '' } }, ''],
    ['nothing', { env: {} }, undefined],
  ])('the passphrase comes from %s', (_name, source, want) => {
    expect(passphraseFrom(source)).toBe(want)
  })
})

import { promises as fs } from 'node:fs'
import path from 'node:path'
import { OcisiteError } from '../../errors.js'
import { gpgExportPublicKey, type GpgOptions } from '../../sign/gpg.js'
import { loadSigningKey, passphraseFrom, type SigningKey } from '../../sign/keys.js'
import { readLookasideTree, type LookasideFile } from '../../sign/lookaside-tree.js'
import { readKeyring, type Keyring } from '../../sign/openpgp.js'

/** How `build`, `add` and `sign` sign what they publish (every path as given; relative to `cwd`). */
export interface SigningOptions {
  /** A lookaside staging tree as skopeo writes it (`<repository>@sha256=<hex>/signature-<n>`). */
  signatures?: string
  /** Sign every published manifest with this gpg key, as `skopeo copy --sign-by` does. */
  signBy?: string
  /** Sign every published manifest with this cosign key (PEM, or cosign's encrypted format). */
  signKey?: string
  /** The key's passphrase is this file's first line (else `$COSIGN_PASSWORD`); gpg reads it too. */
  passphraseFile?: string
  /** The cosign schemes to sign in (default both). */
  signFormat?: string
}

export const signFormats = ['tag', 'bundle', 'both'] as const
export type SignFormat = (typeof signFormats)[number]

/** Signing options loaded and checked: the staging tree read, the keys ready. */
export interface Signing {
  /** Signature files to publish, from `--signatures`. */
  readonly staging: readonly LookasideFile[]
  readonly gpg?: { readonly fingerprint: string; readonly keyring: Keyring; readonly options: GpgOptions }
  readonly cosign?: { readonly key: SigningKey; readonly tag: boolean; readonly bundle: boolean }
  /** Sign only these tags (`add`: those its inputs bring; `sign NAME#TAG`: those named); default every tag. `label`: where the tag comes from. */
  readonly only?: (tag: { path: string; tag: string; label: string }) => boolean
}

/**
 * Load what the options name, before anything is planned or written: a bad staging tree, a key
 * that does not load or a gpg key the keyring lacks stops the command here, naming the flag's file.
 * Undefined when no option is given.
 */
export async function loadSigning(options: SigningOptions, cwd: string, env: Record<string, string | undefined> = process.env): Promise<Signing | undefined> {
  const { signatures, signBy, signKey, passphraseFile, signFormat } = options
  if (signFormat !== undefined && !(signFormats as readonly string[]).includes(signFormat)) {
    throw new OcisiteError('CONFIG_INVALID', `--sign-format ${signFormat}: use ${signFormats.join(', ')}`)
  }
  if (signFormat !== undefined && signKey === undefined) throw new OcisiteError('CONFIG_INVALID', '--sign-format selects the cosign schemes: it needs --sign-key')
  if (signatures === undefined && signBy === undefined && signKey === undefined) {
    if (passphraseFile !== undefined) throw new OcisiteError('CONFIG_INVALID', '--passphrase-file is for --sign-key or --sign-by, and neither is given')
    return undefined
  }
  const file = (p: string) => path.resolve(cwd, p)
  const passFile = passphraseFile === undefined ? undefined : file(passphraseFile)
  const fileText = passFile === undefined ? undefined : await readText(passFile, '--passphrase-file')
  const staging = signatures === undefined ? [] : await readStaging(file(signatures))
  const gpg = signBy === undefined ? undefined : await loadGpg(signBy, { ...(env.GNUPGHOME ? { gnupgHome: env.GNUPGHOME } : {}), ...(passFile ? { passphraseFile: passFile } : {}) })
  let cosign: Signing['cosign']
  if (signKey !== undefined) {
    const keyFile = file(signKey)
    const key = await loadSigningKey(await readBytes(keyFile, '--sign-key'), keyFile, passphraseFrom({ ...(fileText !== undefined ? { fileText } : {}), env }))
    const format = (signFormat ?? 'both') as SignFormat
    cosign = { key, tag: format !== 'bundle', bundle: format !== 'tag' }
  }
  return { staging, ...(gpg ? { gpg } : {}), ...(cosign ? { cosign } : {}) }
}

async function loadGpg(fingerprint: string, options: GpgOptions): Promise<NonNullable<Signing['gpg']>> {
  const keyring = await readKeyring(await gpgExportPublicKey(fingerprint, options), `--sign-by ${fingerprint}`)
  return { fingerprint, keyring, options }
}

async function readStaging(dir: string): Promise<LookasideFile[]> {
  const st = await fs.stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new OcisiteError('INPUT_NOT_FOUND', `--signatures ${dir}: no such directory`, { file: dir }, { cause: err })
    throw err
  })
  if (!st.isDirectory()) throw new OcisiteError('CONFIG_INVALID', `--signatures ${dir}: not a directory (want a lookaside staging tree, as skopeo writes it)`, { file: dir })
  return readLookasideTree(dir)
}

async function readBytes(file: string, flag: string): Promise<Buffer> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    throw new OcisiteError('KEY_INVALID', `${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file }, { cause: err })
  }
}

async function readText(file: string, flag: string): Promise<string> {
  return (await readBytes(file, flag)).toString('utf8')
}

/** The host a signature names in its docker reference: the base URL's (with its port), else the site's. */
export function identityHost(host: string, baseUrl: string | undefined): string {
  return baseUrl === undefined ? host : new URL(baseUrl).host
}

/** Tags cosign and the referrers fallback use (`sha256-<hex>`, `.sig`, `.att`, `.sbom`): never signed themselves. */
export function isSignatureTag(tag: string): boolean {
  return /^sha(256|512)-[0-9a-f]{64,128}(\.(sig|att|sbom))?$/.test(tag)
}

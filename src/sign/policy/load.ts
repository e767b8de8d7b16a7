import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { OcisiteError } from '../../errors.js'
import { parsePublicKey, type VerifyingKey } from '../keys.js'
import { readKeyring, type Keyring } from '../openpgp.js'
import { parseContainersPolicy, type ContainersPolicy, type KeySource } from './containers-policy.js'
import { parseDocoCdPolicy, type DocoCdPolicy } from './doco-cd.js'

/** A consumer's signature policy: containers' policy.json or doco-cd's trust policy. */
export type Policy = ContainersPolicy | DocoCdPolicy

/**
 * Parse a policy file, telling the two formats apart by content: a map with `default` or
 * `transports` is containers' policy.json (parsed as strict JSON, as containers/image does);
 * anything else is doco-cd's YAML.
 */
export function parsePolicy(text: string, file: string): Policy {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new OcisiteError('POLICY_INVALID', `${file}: neither JSON nor YAML (${(err as Error).message.split('\n')[0]})`, { file }, { cause: err })
  }
  const isContainers = typeof doc === 'object' && doc !== null && ('default' in doc || 'transports' in doc)
  return isContainers ? parseContainersPolicy(text, file) : parseDocoCdPolicy(text, file)
}

/** Read and parse a policy file; a missing file is POLICY_INVALID naming it. */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new OcisiteError('POLICY_INVALID', `${file}: cannot read the policy (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file }, { cause: err })
  }
  return parsePolicy(text, file)
}

/** Reads a key file named by a policy; the default reads the file system. */
export type ReadKeyFile = (path: string) => Promise<Uint8Array>

const readKeyFile: ReadKeyFile = (path) => readFile(path)

/**
 * The keys of a requirement, read when the requirement first applies (as containers/image does,
 * so a policy naming a missing key for another registry does not break this one) and kept.
 */
export class KeyCache {
  private readonly keyrings = new Map<KeySource, Promise<Keyring[]>>()
  private readonly publicKeys = new Map<KeySource, Promise<VerifyingKey[]>>()
  constructor(private readonly read: ReadKeyFile = readKeyFile) {}

  /** GPG keyrings (signedBy). */
  gpg(source: KeySource, policyFile: string): Promise<Keyring[]> {
    let found = this.keyrings.get(source)
    if (!found) {
      found = this.load(source, policyFile, (bytes, label) => readKeyring(bytes, label))
      this.keyrings.set(source, found)
    }
    return found
  }

  /** PEM public keys (sigstoreSigned). */
  sigstore(source: KeySource, policyFile: string): Promise<VerifyingKey[]> {
    let found = this.publicKeys.get(source)
    if (!found) {
      found = this.load(source, policyFile, async (bytes, label) => parsePublicKey(bytes, label))
      this.publicKeys.set(source, found)
    }
    return found
  }

  private async load<T>(source: KeySource, policyFile: string, parse: (bytes: Uint8Array, label: string) => Promise<T>): Promise<T[]> {
    if ('data' in source) return Promise.all(source.data.map((bytes, i) => parse(bytes, `${policyFile}: keyData[${i}]`)))
    return Promise.all(
      source.paths.map(async (path) => {
        let bytes: Uint8Array
        try {
          bytes = await this.read(path)
        } catch (err) {
          throw new OcisiteError('POLICY_INVALID', `${path}: cannot read the key named by ${policyFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file: path }, { cause: err })
        }
        return parse(bytes, path)
      }),
    )
  }
}

// cosign signatures added to input layouts as content, made by src/sign's own functions, so a
// build publishes them as any other tag or referrer (the `.sig` tag, the bundle referrer).
import { execFileSync } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { OciLayout } from '../../src/content/layout/oci-layout.js'
import type { Descriptor } from '../../src/oci/descriptor.js'
import type { Blob } from '../../src/sign/blob.js'
import { buildBundleReferrer, signBundle } from '../../src/sign/cosign-bundle.js'
import { buildSignatureManifest, cosignSignatureTag, type SignatureLayer } from '../../src/sign/cosign-tag.js'
import type { SigningKey } from '../../src/sign/keys.js'

async function put(w: OciLayout, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs) await w.putBytes(b.bytes, b.mediaType)
}

/** Tag `sha256-<hex>.sig` of `signed` with a `.sig` manifest of these layers, byte for byte as cosign writes it. */
export async function addTagSignature(w: OciLayout, signed: string, layers: readonly SignatureLayer[]): Promise<Descriptor> {
  const sig = buildSignatureManifest(layers)
  await put(w, [sig.config, ...sig.layers])
  const d = await w.putBytes(sig.manifest.bytes, sig.manifest.mediaType)
  return w.addToIndex(d, cosignSignatureTag(signed))
}

/** A cosign v3 bundle referrer of `subject`, signed with `key`, listed untagged in index.json. */
export async function addBundle(w: OciLayout, key: SigningKey, subject: Descriptor): Promise<Descriptor> {
  const referrer = buildBundleReferrer(await signBundle(key, subject.digest), subject)
  await put(w, [referrer.config, referrer.layer])
  return w.addToIndex(await w.putBytes(referrer.manifest.bytes, referrer.manifest.mediaType))
}

/** An openssl-made key pair in `dir`: `NAME.pem` (private), `NAME.pub` (public); P-256 unless said. */
export function opensslKey(dir: string, name: string, algorithm: 'ec' | 'ed25519' = 'ec'): void {
  const gen = algorithm === 'ec' ? ['ecparam', '-genkey', '-name', 'prime256v1', '-out', `${name}.pem`] : ['genpkey', '-algorithm', 'ed25519', '-out', `${name}.pem`]
  execFileSync('openssl', gen, { cwd: dir, stdio: 'ignore' })
  execFileSync('openssl', ['pkey', '-in', `${name}.pem`, '-pubout', '-out', `${name}.pub`], { cwd: dir, stdio: 'ignore' })
}

/** doco-cd's trust policy holding these public keys (PEM files), written to `file`. */
export async function docoCdPolicy(file: string, publicKeys: readonly string[]): Promise<string> {
  const pems = await Promise.all(publicKeys.map(async (k) => `  - |\n${(await fs.readFile(k, 'utf8')).trimEnd().replace(/^/gm, '    ')}\n`))
  await fs.mkdir(path.dirname(file), { recursive: true })
  await fs.writeFile(file, `enabled: true\npublic_keys:\n${pems.join('')}`)
  return file
}

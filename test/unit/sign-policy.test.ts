import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isOcisiteError } from '../../src/errors.js'
import type { Descriptor } from '../../src/oci/descriptor.js'
import { buildBundleReferrer, bundleCandidates, signBundle, type BundleCandidate } from '../../src/sign/cosign-bundle.js'
import { buildSignatureManifest, signTagLayer, tagCandidates, type TagCandidate } from '../../src/sign/cosign-tag.js'
import { loadSigningKey, type SigningKey } from '../../src/sign/keys.js'
import { requirementsFor, type ContainersPolicy } from '../../src/sign/policy/containers-policy.js'
import { enforcePolicy, evaluatePolicy, type SignatureSource, type Subject } from '../../src/sign/policy/evaluate.js'
import { parsePolicy } from '../../src/sign/policy/load.js'

const DIGEST = `sha256:${'5'.repeat(64)}`
const OTHER = `sha256:${'6'.repeat(64)}`
const subject: Subject = { name: 'example.com/ns/app#1.0', reference: { name: 'example.com/ns/app', tag: '1.0' }, manifestDigest: DIGEST }

async function key(): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ed25519')
  return loadSigningKey(Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' })), 'k.pem')
}

async function tagged(k: SigningKey, digest = DIGEST, repo = 'example.com/ns/app'): Promise<TagCandidate[]> {
  const sig = buildSignatureManifest([signTagLayer(k, digest, repo)])
  const blobs = new Map([sig.config, ...sig.layers].map((b) => [b.digest, b.bytes]))
  return tagCandidates(sig.manifest.bytes, 'sha256-5.sig', async (d: Descriptor) => blobs.get(d.digest)!)
}

async function bundled(k: SigningKey, digest = DIGEST): Promise<BundleCandidate[]> {
  const r = buildBundleReferrer(await signBundle(k, digest), { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 })
  return bundleCandidates(r.manifest.bytes, 'referrer', async () => r.layer.bytes)
}

function source(cosign: (TagCandidate | BundleCandidate)[]): SignatureSource {
  return { cosign: async () => cosign, gpg: async () => [] }
}

function containers(k: SigningKey, signedIdentity?: object): string {
  const keyData = Buffer.from(k.publicKeyPem).toString('base64')
  return JSON.stringify({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        'example.com/ns': [{ type: 'sigstoreSigned', keyData, ...(signedIdentity ? { signedIdentity } : {}) }],
        'example.com/open': [{ type: 'insecureAcceptAnything' }],
      },
      'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] },
    },
  })
}

const docoCd = (k: SigningKey): string => `enabled: true\npublic_keys:\n  - |\n${k.publicKeyPem.trimEnd().replace(/^/gm, '    ')}\n`

describe('evaluating a policy for the manifest being fetched', () => {
  it.each([
    ['a tag-scheme signature, matchRepository', 'tag', { type: 'matchRepository' }, true],
    ["a tag-scheme signature under the default identity (cosign claims no tag: refused as c/image does)", 'tag', undefined, false],
    ['a bundle (no identity claimed), default identity', 'bundle', undefined, true],
  ] as const)('containers sigstoreSigned: %s', async (_name, scheme, identity, accepted) => {
    const k = await key()
    const policy = parsePolicy(containers(k, identity), 'policy.json')
    const candidates = scheme === 'tag' ? await tagged(k) : await bundled(k)
    const verdict = await evaluatePolicy(policy, subject, source(candidates))
    expect(verdict.accepted).toBe(accepted)
    if (!verdict.accepted) expect(verdict.reason).toBe('identity mismatch')
  })

  it.each<[string, (k: SigningKey, other: SigningKey) => Promise<(TagCandidate | BundleCandidate)[]>, string]>([
    ['no signature', async () => [], 'no signature'],
    ['a signature by another key', async (_k, other) => tagged(other), 'bad signature'],
    ['a bundle by another key', async (_k, other) => bundled(other), 'unknown key'],
    ["another digest's signature moved onto this one", async (k) => tagged(k, OTHER), 'digest mismatch'],
    ['a signature for another repository', async (k) => tagged(k, DIGEST, 'example.com/ns/other'), 'identity mismatch'],
    ['the furthest of several rejections', async (k, other) => [...(await bundled(other)), ...(await tagged(k, OTHER))], 'digest mismatch'],
  ])('refuses %s', async (_name, make, reason) => {
    const k = await key()
    const policy = parsePolicy(containers(k, { type: 'matchRepository' }), 'policy.json')
    const verdict = await evaluatePolicy(policy, subject, source(await make(k, await key())))
    expect(verdict).toMatchObject({ accepted: false, reason, scope: 'transports.docker["example.com/ns"]' })
  })

  it('insecureAcceptAnything and reject apply by scope, without reading any signature', async () => {
    const policy = parsePolicy(containers(await key()), 'policy.json')
    const none: SignatureSource = { cosign: () => Promise.reject(new Error('not needed')), gpg: () => Promise.reject(new Error('not needed')) }
    expect(await evaluatePolicy(policy, { ...subject, reference: { name: 'example.com/open/app', tag: '1' } }, none)).toMatchObject({ accepted: true })
    expect(await evaluatePolicy(policy, { ...subject, reference: { name: 'other.example/app', tag: '1' } }, none)).toMatchObject({ accepted: false, reason: 'rejected by policy', scope: 'default' })
  })

  it('doco-cd: a signature by one of its keys covering the digest, either scheme; off unless enabled', async () => {
    const k = await key()
    const policy = parsePolicy(docoCd(k), 'trust.yaml')
    expect(await evaluatePolicy(policy, subject, source(await tagged(k)))).toMatchObject({ accepted: true })
    expect(await evaluatePolicy(policy, subject, source(await bundled(k)))).toMatchObject({ accepted: true })
    expect(await evaluatePolicy(policy, subject, source(await tagged(await key())))).toMatchObject({ accepted: false, reason: 'bad signature' })
    expect(await evaluatePolicy(parsePolicy('enabled: false\n', 'trust.yaml'), subject, source([]))).toMatchObject({ accepted: true })
  })

  it('a refusal is one line naming the name, the digest and the reason, with exit code 6', async () => {
    const policy = parsePolicy(docoCd(await key()), 'trust.yaml')
    const err = await enforcePolicy(policy, subject, source([])).catch((e: unknown) => e)
    expect(isOcisiteError(err) && { code: err.code, exit: err.exitCode, message: err.message }).toEqual({
      code: 'SIGNATURE_REFUSED',
      exit: 6,
      message: `example.com/ns/app#1.0: ${DIGEST}: refused by trust.yaml: no signature (no cosign signature (no .sig tag layer, no bundle referrer))`,
    })
  })
})

describe('parsing policies', () => {
  it.each([
    ['{"transports":{}}', 'no "default" requirements'],
    ['{"default":[]}', 'default is empty'],
    ['{"default":[{"type":"reject"}],"extra":1}', 'the policy has an unknown field "extra"'],
    ['{"default":[{"type":"reject","keyPath":"/k"}]}', 'default[0] has an unknown field "keyPath"'],
    ['{"default":[{"type":"signedBy","keyType":"X509Certificates","keyPath":"/k"}]}', 'keyType "X509Certificates" is not supported'],
    ['{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}', 'exactly one of keyPath, keyPaths, keyData is needed (found none)'],
    ['{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyData":"AA=="}]}', 'found keyPath, keyData'],
    ['{"default":[{"type":"sigstoreSigned","fulcio":{}}]}', '"fulcio" is not supported: it needs Fulcio or Rekor'],
    ['{"default":[{"type":"sigstoreSigned","keyPath":"/k","rekorPublicKeyPath":"/r"}]}', '"rekorPublicKeyPath" is not supported'],
    ['{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"x":[{"type":"signedByAnyone"}]}}}', 'unknown requirement type "signedByAnyone"'],
    ['{"default":[{"type":"reject"}],"transports":{"oci":{"":[]}}}', 'transports.oci[""] is empty'],
    ['enable: true\npublic_keys: []\n', 'unknown field "enable"'],
    ['enabled: true\n', 'enabled, but no public_keys'],
    ['enabled: true\nkeyless_identities:\n  - issuer: https://token.actions.githubusercontent.com\n', 'only keyless_identities, which are not supported: keyless identities need Fulcio and Rekor'],
    ['enabled: true\npublic_keys:\n  - not a key\n', 'trust.yaml: public_keys[0]: not a public key'],
  ])('%s is refused', (text, message) => {
    expect(() => parsePolicy(text, 'trust.yaml')).toThrow(message)
  })

  it('doco-cd keyless identities next to keys are ignored with a warning', async () => {
    const k = await key()
    const policy = parsePolicy(`${docoCd(k)}keyless_identities:\n  - issuer: https://issuer.example\n    subject: someone\n`, 'trust.yaml')
    expect(policy.kind === 'doco-cd' && policy.warnings).toEqual(['trust.yaml: keyless_identities ignored (keyless identities need Fulcio and Rekor, which ocisite does not use); only public_keys are checked'])
  })

  it.each([
    ['example.com/ns/app:1.0', 'transports.docker["example.com/ns/app:1.0"]'],
    ['example.com/ns/app:2.0', 'transports.docker["example.com/ns/app"]'],
    ['example.com/ns/other:1', 'transports.docker["example.com"]'],
    ['reg.corp.example/x:1', 'transports.docker["*.corp.example"]'],
    ['elsewhere.example/x:1', 'transports.docker[""]'],
  ])('%s uses %s', (ref, scope) => {
    const req = [{ type: 'insecureAcceptAnything' }]
    const policy = parsePolicy(
      JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { 'example.com/ns/app:1.0': req, 'example.com/ns/app': req, 'example.com': req, '*.corp.example': req, '': req } } }),
      'p.json',
    ) as ContainersPolicy
    const [name, tag] = ref.split(':') as [string, string]
    expect(requirementsFor(policy, { name, tag }).scope).toBe(scope)
  })
})

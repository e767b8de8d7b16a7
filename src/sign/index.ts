/**
 * Signatures: making and checking cosign signatures (tag scheme and v0.3 bundles) and containers
 * signatures (GPG simple signing on a lookaside), and the consumer policies that require them.
 * Below site/ and client/: imports only oci/, errors and libraries; no HTTP of its own.
 */
export { type Blob, type FetchBlob, MAX_SIGNATURE_BYTES } from './blob.js'
export { type RefusalReason, type SignatureAccepted, type SignatureCheck, type SignatureRejected } from './check.js'
export {
  BUNDLE_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE,
  buildBundleReferrer,
  bundleCandidates,
  checkBundle,
  findBundleSignature,
  signBundle,
  signStatement,
  type BundleCandidate,
  type BundleReferrer,
} from './cosign-bundle.js'
export {
  COSIGN_SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  buildSignatureManifest,
  checkTagSignature,
  cosignSignatureTag,
  findTagSignature,
  layerOf,
  parseSignatureManifest,
  signTagLayer,
  tagCandidates,
  type SignatureLayer,
  type SignatureManifest,
  type TagCandidate,
} from './cosign-tag.js'
export { gpgExportPublicKey, gpgSign, type GpgOptions } from './gpg.js'
export { isDeterministic, loadSigningKey, parsePublicKey, passphraseFrom, type KeyAlgorithm, type SigningKey, type VerifyingKey } from './keys.js'
export { lookasidePath, lookasideUrl, parseLookasidePath, type LookasideEntry } from './lookaside.js'
export { nextLookasideIndex, readLookasideTree, type LookasideFile } from './lookaside-tree.js'
export { checkGpgSignature, checkOpenPgpMessage, findGpgSignature, fingerprints, readKeyring, type GpgCandidate, type Keyring } from './openpgp.js'
export { atomicPayload, cosignPayload, parseSimpleSigning, type SimpleSigningClaim } from './payload.js'
export { formatReference, parseDockerReference, referenceOf, type DockerReference } from './reference.js'
export { lookasideFor, parseRegistriesD, readRegistriesD, type RegistriesD } from './registries-d.js'
export { enforcePolicy, evaluatePolicy, type SignatureSource, type Subject, type Verdict } from './policy/evaluate.js'
export { identityMatches, type SignedIdentity } from './policy/identity.js'
export { KeyCache, loadPolicy, parsePolicy, type Policy } from './policy/load.js'

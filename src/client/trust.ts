import path from 'node:path'
import { REF_NAME } from '../oci/descriptor.js'
import type { ImageName } from '../oci/image-name.js'
import { referenceOf } from '../sign/reference.js'
import { lookasideFor } from '../sign/registries-d.js'
import { enforcePolicy, type Subject } from '../sign/policy/evaluate.js'
import { KeyCache, loadPolicy } from '../sign/policy/load.js'
import { COSIGN_ATTACHMENT_TAG } from '../sign/signature-lookup.js'
import { existingFile, loadRegistriesD } from '../sign/trust-files.js'
import type { DiscoveryOptions } from './discovery.js'
import type { ResolvedRoot } from './resolve.js'
import { signatureSource, siteLookaside } from './signature-source.js'
import { xdgConfigDirs } from './xdg.js'

// The consumer's signature policy, checked between resolving a name and using what it names:
// resolve → check the signatures of each root's digest → copy. A refusal is SIGNATURE_REFUSED
// (exit 6), thrown before anything is written.

/** Where the policy and the lookaside configuration come from (`--policy`, `--registries-d`). */
export interface TrustOptions {
  /**
   * containers' policy.json or doco-cd's trust-policy YAML. Default:
   * `$XDG_CONFIG_HOME/ocisite/policy.json` when that file exists; otherwise nothing is checked.
   */
  policy?: string
  /**
   * A registries.d directory naming lookasides. Default: `$CONTAINERS_REGISTRIES_D`, else
   * ~/.config/containers/registries.d when it exists, else /etc/containers/registries.d.
   */
  registriesD?: string
}

/** Checks the roots a name resolved to; throws SIGNATURE_REFUSED for the first one refused. */
export type RootCheck = (name: ImageName, roots: readonly ResolvedRoot[]) => Promise<void>

/** The policy used when `--policy` is not given (if the file exists). */
export function defaultPolicyFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(xdgConfigDirs(env)[0]!, 'ocisite', 'policy.json')
}

/**
 * The check a client command runs on what it resolves, or undefined when no policy applies
 * (no `--policy` and no default file). The policy and registries.d are read once, here, so a
 * bad file fails before anything is fetched.
 */
export async function rootChecker(options: TrustOptions & DiscoveryOptions): Promise<RootCheck | undefined> {
  const env = options.env ?? process.env
  const file = options.policy ?? (await existingFile(defaultPolicyFile(env)))
  if (file === undefined) return undefined
  const policy = await loadPolicy(file)
  if (policy.kind === 'doco-cd') for (const message of policy.warnings) options.onEvent?.({ type: 'warning', message })
  const registries = await loadRegistriesD(options.registriesD, env)
  const keys = new KeyCache()
  return async (name, roots) => {
    for (const root of roots) {
      // A name without a tag names every entry: cosign's own `.sig`/`.att` tags are signatures, not content.
      if (!name.fragment && COSIGN_ATTACHMENT_TAG.test(root.descriptor.annotations?.[REF_NAME] ?? '')) continue
      const subject = subjectOf(name, root, options.port)
      const lookaside = lookasideFor(registries, subject.reference)?.url ?? siteLookaside(root)
      const verdict = await enforcePolicy(policy, subject, signatureSource(name, root, lookaside, options), keys)
      const signatures = verdict.signatures.map((s) => `${s.key} (${s.source})`)
      options.onEvent?.({ type: 'verified', name: subject.name, digest: subject.manifestDigest, policy: file, scope: verdict.scope, signatures })
    }
  }
}

/**
 * What is being fetched, as a signature names it: the host (with `--port`, as podman names the
 * same site: `localhost:8080/app`), the repository, and the tag of the index entry, or the digest.
 */
export function subjectOf(name: ImageName, root: ResolvedRoot, port: number | undefined): Subject {
  const digest = root.descriptor.digest
  const tag = name.fragment || root.descriptor.annotations?.[REF_NAME]
  const host = port === undefined ? name.host : `${name.host}:${port}`
  const reference = referenceOf(host, name.path, tag ? { tag } : { digest })
  return { name: `${name.host}/${name.path}${tag ? `#${tag}` : `@${digest}`}`, reference, manifestDigest: digest }
}

import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OcisiteError } from '../../errors.js'
import { parseDescriptor, type Descriptor } from '../../oci/descriptor.js'
import { digestOf, parseDigest } from '../../oci/digest.js'
import { MAX_JSON_BYTES, parseJsonObject } from '../../oci/json.js'
import { MediaType, manifestKindOf } from '../../oci/media-types.js'
import type { CasEngine } from '../../oci/engines.js'
import { casUrl } from '../../content/remote-store.js'
import { MAX_SIGNATURE_BYTES } from '../../sign/blob.js'
import { evaluatePolicy, type Subject } from '../../sign/policy/evaluate.js'
import { KeyCache, loadPolicy, type Policy } from '../../sign/policy/load.js'
import { referenceOf } from '../../sign/reference.js'
import { lookasideFor, type RegistriesD } from '../../sign/registries-d.js'
import { COSIGN_ATTACHMENT_TAG, SITE_LOOKASIDE_PATH, signatureSource, type SignatureLookup } from '../../sign/signature-lookup.js'
import { loadRegistriesD } from '../../sign/trust-files.js'
import { urlOf } from '../map.js'
import type { Published } from '../write/published.js'
import { getFound, httpTransport, type Transport } from './transport.js'
import type { SiteChecks } from './verify-checks.js'
import type { Engines, ImageView, VerifyOptions } from './verify-result.js'

// `verify --policy`: every tag of every image checked against a signature policy as `pull
// --policy` would check it, over verify's transport (a URL or a site directory). A tag the policy
// refuses is a problem (`unsigned`, or `signature` for a bad one) worded as pull's refusal.

/** A referrers fallback tag (`sha256-<hex>`): an index of referrers, not content. */
const REFERRERS_TAG = /^sha(256|512)-[0-9a-f]+$/

/** The policy, read once before the site is; and the host consumers name the site by. */
export interface SignatureAudit {
  file: string
  policy: Policy
  registries: RegistriesD
  keys: KeyCache
  host: string
}

/**
 * Read `--policy` and registries.d (a bad file fails before any request). The host in the
 * references the policy scopes: the URL's (with its port, as podman names it), or for a
 * directory the `--host` it was built with.
 */
export async function loadSignatureAudit(target: string, options: VerifyOptions & { policy: string }, published: Published | undefined): Promise<SignatureAudit> {
  const policy = await loadPolicy(options.policy)
  const registries = await loadRegistriesD(options.registriesD, options.env ?? process.env)
  const host = /^https?:\/\//i.test(target) ? new URL(target).host : published?.settings.host
  if (host === undefined) throw new OcisiteError('CONFIG_INVALID', `${target}: --policy needs the site's host, and this directory has no record of it (.ocisite/site.json); verify its URL instead`, { target })
  return { file: options.policy, policy, registries, keys: new KeyCache(), host }
}

/** Check each tag of one image against the policy; a refusal is a problem naming tag, digest and reason. */
export async function checkSignatures(run: SiteChecks, audit: SignatureAudit, name: string, view: ImageView, engines: Engines): Promise<void> {
  for (const [tag, entry] of view.tags) {
    if (!manifestKindOf(entry.mediaType) || COSIGN_ATTACHMENT_TAG.test(tag) || REFERRERS_TAG.test(tag)) continue
    const subject: Subject = { name: `${audit.host}/${name}#${tag}`, reference: referenceOf(audit.host, name, { tag }), manifestDigest: entry.digest }
    const lookup = siteLookup(run, audit, name, view, engines, subject)
    const where = { repository: name, where: `${audit.host}/${name}` }
    try {
      const verdict = await evaluatePolicy(audit.policy, subject, signatureSource(lookup, where, entry.digest), audit.keys)
      if (verdict.accepted) {
        run.result.checked.signed = (run.result.checked.signed ?? 0) + 1
        continue
      }
      const kind = verdict.reason === 'no signature' ? 'unsigned' : 'signature'
      const message = `${subject.name}: ${entry.digest}: refused by ${audit.file}: ${verdict.reason} (${verdict.detail})`
      run.result.problems.push({ kind, url: run.transport.display(view.indexUrl), message, name: subject.name, digest: entry.digest, reason: verdict.reason })
    } catch (err) {
      // Signature data that cannot be read (a corrupt `.sig` manifest, a lookaside that fails).
      if (!(err instanceof OcisiteError)) throw err
      const bad = err.code === 'SIGNATURE_INVALID' || err.code === 'DIGEST_MISMATCH'
      const message = `${subject.name}: ${entry.digest}: ${err.message}`
      run.result.problems.push({ kind: bad ? 'signature' : 'unreachable', url: run.transport.display(view.indexUrl), message, name: subject.name, digest: entry.digest, ...(bad ? { reason: 'bad signature' as const } : {}) })
    }
  }
}

/** Signatures as the site serves them: its index's tags, its CAS, its referrers, its lookaside (or registries.d's). */
function siteLookup(run: SiteChecks, audit: SignatureAudit, name: string, view: ImageView, engines: Engines, subject: Subject): SignatureLookup {
  const cas = (d: Descriptor) => view.cas.get(d.digest) ?? engines.siteCas
  const fetch = (d: Descriptor) => fetchBlob(run, cas(d), d)
  const base = lookasideFor(audit.registries, subject.reference)?.url ?? new URL(SITE_LOOKASIDE_PATH, run.transport.wellKnown).toString()
  return {
    tag: async (tag) => view.tags.get(tag),
    referrers: (digest) => referrers(run, name, view, engines, digest, fetch),
    fetch,
    lookaside: { base, read: (url) => readLookaside(run, url), display: (url) => run.transport.display(url) },
  }
}

/** A signature blob or manifest through the CAS, checked against its descriptor. */
async function fetchBlob(run: SiteChecks, engines: CasEngine[], d: Descriptor): Promise<Buffer> {
  if (d.size > MAX_SIGNATURE_BYTES) throw new OcisiteError('SIGNATURE_INVALID', `${d.digest}: ${d.size} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit for signature data`, { digest: d.digest })
  const url = casUrl(engines[0]!, d.digest)
  const bytes = await readOk(run, run.transport, url, MAX_SIGNATURE_BYTES)
  if (!bytes) throw new OcisiteError('PROTOCOL', `GET ${run.transport.display(url)}: not found`, { url })
  if (bytes.length !== d.size || digestOf(bytes, parseDigest(d.digest).algorithm) !== d.digest) {
    throw new OcisiteError('DIGEST_MISMATCH', `${run.transport.display(url)}: the bytes served do not match ${d.digest}`, { url, digest: d.digest })
  }
  return bytes
}

/** The referrers of a digest: /v2/'s referrers API, or (no /v2/, or a 404) the index's `sha256-<hex>` tag. */
async function referrers(run: SiteChecks, name: string, view: ImageView, engines: Engines, digest: string, fetch: (d: Descriptor) => Promise<Buffer>): Promise<Descriptor[]> {
  const d = parseDigest(digest)
  let doc: Buffer | undefined
  if (run.result.v2) doc = await readOk(run, run.transport, new URL(urlOf({ kind: 'referrers', repo: name, digest: d }), engines.base).toString(), MAX_JSON_BYTES, MediaType.ociIndex)
  if (!doc) {
    const fallback = view.tags.get(`${d.algorithm}-${d.encoded}`)
    if (!fallback) return []
    doc = await fetch(fallback)
  }
  const body = parseJsonObject(doc, `referrers of ${name}@${digest}`)
  const list = Array.isArray(body.manifests) ? body.manifests : []
  return list.map((m, i) => parseDescriptor(m, `referrers of ${name}@${digest}: manifests[${i}]`))
}

/** One lookaside file: the site's (through its transport), another server's, or a file: URL. */
async function readLookaside(run: SiteChecks, url: string): Promise<Uint8Array | undefined> {
  if (url.startsWith('file:')) {
    return fs.readFile(fileURLToPath(url)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw new OcisiteError('POLICY_INVALID', `${url}: cannot read the lookaside signature (${err.code ?? err.message})`, { url }, { cause: err })
    })
  }
  // The site's own lookaside through its transport (a directory answers as `serve` would); another server over HTTP.
  const own = new URL(url).origin === new URL(run.transport.wellKnown).origin
  return readOk(run, own ? run.transport : httpTransport(url, run.options), url, MAX_SIGNATURE_BYTES)
}

/** GET a URL: its body, or undefined on 404. */
async function readOk(run: SiteChecks, transport: Transport, url: string, limit: number, accept = '*/*'): Promise<Buffer | undefined> {
  run.result.checked.requests++
  const answer = await getFound(transport, url, accept, (status) => new OcisiteError('PROTOCOL', `GET ${transport.display(url)}: HTTP ${status}`, { url }))
  return answer?.bytes(limit)
}

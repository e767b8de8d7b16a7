import { mapLimit } from '../../concurrency.js'
import { OcisiteError } from '../../errors.js'
import { parseDigest } from '../../oci/digest.js'
import { MediaType, manifestKindOf } from '../../oci/media-types.js'
import { MAX_SIGNATURE_BYTES } from '../../sign/blob.js'
import { urlOf } from '../map.js'
import type { SiteChecks } from './verify-checks.js'
import type { Engines, ImageView } from './verify-result.js'

/**
 * The containers signatures of each tagged manifest at /signatures/: served as bytes, each an
 * OpenPGP message (the first gap ends them, as it does for clients).
 */
export async function checkLookaside(run: SiteChecks, name: string, view: ImageView, engines: Engines): Promise<void> {
  const digests = [...new Set([...view.tags.values()].filter((d) => manifestKindOf(d.mediaType)).map((d) => d.digest))]
  await mapLimit(digests, run.limit, async (digest) => {
    for (let index = 1; ; index++) {
      const url = new URL(urlOf({ kind: 'signature', repo: name, digest: parseDigest(digest), index }), engines.base).toString()
      const what = `signature-${index} of ${name}@${digest}`
      const answer = await run.fetchChecked(url, { type: MediaType.octetStream, cache: 'document', absentOk: true, what })
      if (!answer) return
      const bytes = await answer.bytes(MAX_SIGNATURE_BYTES).catch((err: unknown) => {
        if (!(err instanceof OcisiteError)) throw err
        run.problem('lookaside', url, `${what}: ${err.message}`)
      })
      if (!bytes) return
      const { checkOpenPgpMessage } = await import('../../sign/openpgp.js') // OpenPGP.js is loaded only for a site with signatures
      await checkOpenPgpMessage(bytes, what).catch((err: unknown) => {
        if (!(err instanceof OcisiteError)) throw err
        run.problem('lookaside', url, err.message)
      })
    }
  })
}

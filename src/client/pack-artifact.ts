import { OcisiteError } from '../errors.js'
import { pack, presets, subjectInLayout, type PackOptions, type PackResult, type Preset } from '../pack/pack.js'
import type { DiscoveryOptions } from './discovery.js'
import { resolveSubject } from './resolve.js'

/** `pack` as the command line names things: the subject and preset as text. */
export interface PackArtifactOptions extends Omit<PackOptions, 'subject' | 'preset'> {
  /** NAME#TAG on a site (resolved through discovery), or a tag or digest of the layout written. */
  subject?: string
  preset?: string
  /** How a NAME#TAG subject is discovered. */
  discovery?: DiscoveryOptions
}

/** Pack an artifact, first finding its subject: on a site for NAME#TAG, else in the layout itself. */
export async function packArtifact(options: PackArtifactOptions): Promise<PackResult> {
  const { subject, preset, discovery, ...rest } = options
  if (preset !== undefined && !presets.includes(preset as Preset)) throw new OcisiteError('CONFIG_INVALID', `--preset ${preset}: use one of ${presets.join(', ')}`)
  const descriptor = subject === undefined ? undefined : /^[^#]+\/[^#]+#./.test(subject) ? await resolveSubject(subject, discovery) : await subjectInLayout(rest.out, subject)
  return pack({ ...rest, ...(descriptor ? { subject: descriptor } : {}), ...(preset !== undefined ? { preset: preset as Preset } : {}) })
}

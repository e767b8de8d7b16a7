import { OcisiteError } from '../errors.js'
import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { formatBytes, printJson } from './output.js'

/** SOURCE_DATE_EPOCH, the reproducible-builds convention: whole seconds, or unset. */
function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.SOURCE_DATE_EPOCH
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text)) throw new OcisiteError('CONFIG_INVALID', `SOURCE_DATE_EPOCH=${text} is not a whole number of seconds`)
  return Number(text)
}

export const packCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('pack [...paths]', 'Pack files (or a directory) as an OCI 1.1 artifact into an OCI layout'))
    .option('--out <layout>', 'The OCI layout to write (created, or merged into)')
    .option('--tag <tag>', 'Tag for the artifact in the layout')
    .option('--artifact-type <type>', 'The artifact type (default application/vnd.unknown.artifact.v1, as oras)')
    .option('--tar', 'Pack one directory as a single reproducible tar+gzip layer')
    .option('--annotation <k=v>', 'A manifest annotation; repeatable')
    .option('--subject <ref>', 'Make it a referrer of NAME#TAG on a site (resolved), or of a tag or digest in --out')
    .option('--preset <name>', 'A seed format: rsgo-stack, doco, aicr')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite pack stack.yaml:application/vnd.rsgo.stack.manifest.v1+yaml lock.json --out layouts/stack --tag 1.0')
    .example('ocisite pack deploy/ --preset doco --out layouts/deploy --tag v3')
    .example('SOURCE_DATE_EPOCH=1700000000 ocisite pack bundle/ --preset aicr --out layouts/bundle --tag v1.0.0')
    .example('ocisite pack sbom.spdx.json:application/spdx+json --subject example.com/app#1.0 --out layouts/app-sbom --tag sbom')
    .action(async (paths: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { packArtifact } = await import('../client/pack-artifact.js')
      const result = await packArtifact({
        paths,
        out: f.required('out', 'the OCI layout to write'),
        tag: f.required('tag', 'the tag of the artifact in --out'),
        artifactType: f.text('artifactType'),
        tar: f.on('tar'),
        annotations: f.keyValues('annotation'),
        subject: f.text('subject'),
        preset: f.text('preset'),
        sourceDateEpoch: sourceDateEpoch(process.env),
        discovery: (await clientOptions(f, io, [f.text('subject') ?? ''].filter(Boolean))),
      })
      if (f.on('json')) return printJson(io, result)
      for (const l of result.layers) io.stdout.write(`${l.title}  ${l.mediaType}  ${l.digest}  ${formatBytes(l.size)}\n`)
      io.stdout.write(`${result.layout}:${result.tag} → ${result.digest} (${result.artifactType})\n`)
    })
}

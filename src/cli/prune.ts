import { Flags, siteDir, type RegisterCommand } from './options.js'
import { bucketValues, withBucketSiteOptions } from './bucket-site.js'
import { formatBytes, plural, printJson } from './output.js'

export const pruneCommand: RegisterCommand = (cli, io) => {
  withBucketSiteOptions(cli.command('prune', 'Delete blobs nothing has referenced for longer than the grace period'), false)
    .option('--site <dir>', 'The site to prune: a directory, or s3://BUCKET[/PREFIX]')
    .option('--grace <duration>', 'How long a blob must have been unreferenced: 24h, 30m, 7d, 0 (default 24h)')
    .option('--dry-run', 'List what would be deleted; change nothing')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite prune --site public --grace 24h --dry-run')
    .action(async (raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { prune } = await import('../site/prune.js')
      const result = await prune({ site: siteDir(f), grace: f.duration('grace'), dryRun: f.on('dryRun'), wait: f.negated('wait'), bucket: bucketValues(f) })
      if (f.on('json')) return printJson(io, result)
      const verb = result.dryRun ? 'would delete' : 'deleted'
      for (const b of result.removed) io.stdout.write(`${verb} ${b.digest} (${formatBytes(b.size)}, unreferenced since ${b.unreferencedSince})\n`)
      io.stdout.write(`${verb} ${plural(result.removed.length, 'blob')} (${formatBytes(result.bytesRemoved)}); ${plural(result.waiting.length, 'unreferenced blob')} still inside the grace period\n`)
    })
}

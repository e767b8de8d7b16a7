import { Flags, siteDir, type RegisterCommand } from './options.js'
import { bucketValues, runOnChange, withBucketSiteOptions } from './bucket-site.js'
import { buildProgress, printJson } from './output.js'
import { writeReport } from './write-report.js'

export const rmCommand: RegisterCommand = (cli, io) => {
  withBucketSiteOptions(cli.command('rm [...names]', 'Remove tags (PATH#TAG), or whole images (PATH), from a site; blobs stay until prune'))
    .option('--site <dir>', 'The site to remove from: a directory, or s3://BUCKET[/PREFIX]')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
    .option('--dry-run', 'Show what would be unpublished and deleted; change nothing')
    .option('--json', 'Print a machine-readable summary (as build --json)')
    .example('ocisite rm org/app#1.0 --site public')
    .example('ocisite rm example.com/old-app --site public')
    .action(async (names: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { rm } = await import('../site/publish.js')
      const progress = buildProgress(io)
      const result = await rm({ site: siteDir(f), names, wait: f.negated('wait'), dryRun: f.on('dryRun'), bucket: bucketValues(f), onProgress: progress.listener }).finally(() => progress.finish())
      await runOnChange(f.text('onChange'), 'changed' in result ? (result.changed as string[]) : undefined)
      if (f.on('json')) return printJson(io, result)
      io.stdout.write(writeReport(result, false))
    })
}

import { copyValues, Flags, signValues, siteDir, withCopyOptions, withSignOptions, type RegisterCommand } from './options.js'
import { bucketValues, runOnChange, withBucketSiteOptions } from './bucket-site.js'
import { buildProgress, printJson } from './output.js'
import { writeReport } from './write-report.js'

export const addCommand: RegisterCommand = (cli, io) => {
  withSignOptions(withBucketSiteOptions(withCopyOptions(cli.command('add [...inputs]', 'Publish layouts or archives into an existing site, leaving its other images alone'))))
    .option('--site <dir>', 'The site to publish into: a directory made by ocisite build, or s3://BUCKET[/PREFIX]')
    .option('--host <host>', 'For --site s3://… with no site in it yet: start one for this host')
    .option('--no-html', 'For --site s3://… with no site in it yet: start it without the HTML pages')
    .option('--path <path>', 'Image path for a single layout or archive (a prefix for a searched directory)')
    .option('--tags <glob>', 'Publish only tags matching this glob; repeatable')
    .option('--force', 'Move tags the site already publishes with another digest')
    .option('--dry-run', 'Show what would be published, moved and deleted; change nothing')
    .option('--json', 'Print a machine-readable summary (as build --json)')
    .example('ocisite add app-layout --path org/app --site public')
    .example('ocisite add app.tar --site public --tags "v*" --force')
    .example('ocisite add app-layout --path org/app --site s3://my-bucket --on-change ./invalidate.sh')
    .action(async (inputs: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { add } = await import('../site/publish.js')
      const progress = buildProgress(io)
      const options = { site: siteDir(f), inputs, path: f.text('path'), tags: f.list('tags'), force: f.on('force'), dryRun: f.on('dryRun'), ...copyValues(f), ...signValues(f), bucket: { ...bucketValues(f), host: f.text('host'), html: f.negated('html') } }
      const result = await add({ ...options, onProgress: progress.listener }).finally(() => progress.finish())
      await runOnChange(f.text('onChange'), 'changed' in result ? (result.changed as string[]) : undefined)
      if (f.on('json')) return printJson(io, result)
      io.stdout.write(writeReport(result, true))
    })
}

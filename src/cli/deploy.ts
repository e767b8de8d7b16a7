import { bucketOwned } from '../site/map.js'
import { Flags, type RegisterCommand } from './options.js'
import { buildProgress, formatBytes, plural, printJson } from './output.js'

export const deployCommand: RegisterCommand = (cli, io) => {
  cli
    .command('deploy <site> <target>', 'Copy a built site into an S3-compatible bucket (s3://BUCKET[/PREFIX]), /v2/ included, in a safe order')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, R2, …); default: AWS')
    .option('--path-style', 'Path-style bucket URLs (most S3-compatible stores need this)')
    .option('--region <region>', 'Region (default: from AWS_REGION or the profile; us-east-1 with --endpoint)')
    .option('--concurrency <n>', 'Objects uploaded at once (default 8)')
    .option('--delete', `Remove objects the site no longer has, after the documents are switched; only ocisite's own keys (${bucketOwned.join(', ')}) below the target's PREFIX; index.html only while the site has pages`)
    .option('--index-document <name>', "The bucket website's index document suffix, which answers /v2/ (default index.html)")
    .option('--dry-run', 'Show what would be uploaded and deleted; change nothing')
    .option('--json', 'Print a machine-readable summary (the keys uploaded and deleted)')
    .example('ocisite deploy public s3://my-bucket')
    .example('ocisite deploy public s3://site/prefix --endpoint http://127.0.0.1:9000 --path-style --delete')
    .action(async (site: string, target: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { deploy } = await import('../site/deploy.js')
      const progress = buildProgress(io)
      const result = await deploy({
        site,
        target,
        endpoint: f.text('endpoint'),
        pathStyle: f.on('pathStyle'),
        region: f.text('region'),
        concurrency: f.positiveInt('concurrency'),
        delete: f.on('delete'),
        dryRun: f.on('dryRun'),
        indexDocument: f.text('indexDocument'),
        onProgress: progress.listener,
      }).finally(() => progress.finish())
      if (f.on('json')) return printJson(io, result)
      if (result.dryRun) for (const k of result.uploaded) io.stdout.write(`would upload ${k}\n`)
      if (result.dryRun) for (const k of result.deleted) io.stdout.write(`would delete ${k}\n`)
      const o = result.objects
      io.stdout.write(`${result.dryRun ? 'would upload' : 'uploaded'} ${plural(o.uploaded, 'object')} (${formatBytes(result.bytesUploaded)}), ${o.unchanged} unchanged${o.deleted ? `, ${result.dryRun ? 'would delete' : 'deleted'} ${o.deleted}` : ''}: ${result.target}\n`)
    })
}

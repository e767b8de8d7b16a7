import type { LsImages, LsTags } from '../site/audit/ls.js'
import { connectOptions, Flags, withConnectOptions, type RegisterCommand } from './options.js'
import { formatBytes, printJson, type CliIo } from './output.js'
import { printTable } from './table.js'
import { bucketConnection, withBucketConnection } from './bucket-site.js'

function printImages(io: CliIo, result: LsImages): void {
  printTable(io, ['PATH', 'TAGS'], result.images.map((i) => [i.path, String(i.tags)]))
}

function printTags(io: CliIo, result: LsTags): void {
  const rows = result.tags.map((t) => [
    t.tag,
    t.digest,
    formatBytes(t.size),
    t.created ?? '-',
    t.platforms.map((p) => `${p.platform ?? t.artifactType ?? '?'} ${formatBytes(p.size)}`).join(', ') || t.mediaType,
    t.signed ? 'signed' : '',
  ])
  printTable(io, ['TAG', 'DIGEST', 'SIZE', 'CREATED', 'PLATFORMS', ''], rows)
}

export const lsCommand: RegisterCommand = (cli, io) => {
  withBucketConnection(withConnectOptions(cli.command('ls <target> [path]', "List a site's images, or one image's tags (digest, platforms and sizes, created); TARGET is a site directory, URL or s3://BUCKET[/PREFIX]")), 's3://…')
    .option('--concurrency <n>', 'Requests at once (default 16)')
    .option('--json', 'Print JSON (see README: ls --json)')
    .example('ocisite ls public')
    .example('ocisite ls https://example.com org/app')
    .example('ocisite ls http://127.0.0.1:8080 org/app --json')
    .example('ocisite ls s3://my-bucket org/app')
    .action(async (target: string, imagePath: string | undefined, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { ls } = await import('../site/audit/ls.js')
      const result = await ls(target, imagePath, { concurrency: f.positiveInt('concurrency'), bucket: bucketConnection(f), ...(await connectOptions(f, io, [target])) })
      if (f.on('json')) return printJson(io, result)
      if ('images' in result) printImages(io, result)
      else printTags(io, result)
    })
}

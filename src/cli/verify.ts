import { maxOf } from '../arrays.js'
import { ExitCode } from '../errors.js'
import { connectOptions, Flags, trustValues, withConnectOptions, type RegisterCommand } from './options.js'
import { plural, printJson, ReportedError } from './output.js'
import { bucketConnection, withBucketConnection } from './bucket-site.js'

export const verifyCommand: RegisterCommand = (cli, io) => {
  withBucketConnection(withConnectOptions(cli.command('verify <target>', 'Check a live site (URL), a bucket (s3://BUCKET[/PREFIX]) or a site directory as a consumer walks it: types, caching, sizes, digests, /v2/')), 's3://…')
    .option('--deep', 'Download and hash every blob (default: HEAD and compare sizes)')
    .option('--name <path>', 'Check this image path (default: every image in /v2/_catalog); repeatable')
    .option('--concurrency <n>', 'Requests at once (default 16)')
    .option('--policy <file>', "Check every tag's signatures against containers' policy.json or doco-cd's trust policy: unsigned and badly signed tags are problems")
    .option('--registries-d <dir>', "containers' registries.d naming the lookaside (default $CONTAINERS_REGISTRIES_D, else /etc/containers/registries.d; else the site's /signatures/)")
    .option('--json', 'Print the result as JSON (see README: verify --json)')
    .example('ocisite verify https://example.com')
    .example('ocisite verify public --deep')
    .example('ocisite verify s3://my-bucket --endpoint http://127.0.0.1:9000 --path-style    # the objects, by key')
    .example('ocisite verify http://127.0.0.1:8080 --name org/app --json')
    .example('ocisite verify https://example.com --policy policy.json    # unsigned and badly signed tags')
    .example('ocisite verify https://example.com --resolve example.com:443:192.0.2.10    # a staging server, under the real name')
    .action(async (target: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { verifySite } = await import('../site/audit/verify.js')
      const options = { deep: f.on('deep'), names: f.list('name'), concurrency: f.positiveInt('concurrency'), ...trustValues(f), bucket: bucketConnection(f), ...(await connectOptions(f, io, [target])) }
      const result = await verifySite(target, options)
      if (f.on('json')) printJson(io, result)
      else {
        const c = result.checked
        const summary = `${plural(c.images, 'image')}, ${plural(c.tags, 'tag')}, ${plural(c.manifests, 'manifest')}, ${plural(c.blobs, 'blob')}${result.deep ? ' (hashed)' : ''}; ${plural(c.requests, 'request')}; /v2/ ${result.v2 ? 'served' : 'not served'}${result.policy ? `; ${c.signed ?? 0} signed as ${result.policy} requires` : ''}`
        if (result.ok) io.stdout.write(`ok: ${result.target}: ${summary}\n`)
        else {
          const width = maxOf(result.problems.map((p) => p.kind.length), 0)
          for (const p of result.problems) io.stdout.write(`${p.kind.padEnd(width)}  ${p.url}\n${' '.repeat(width)}  ${p.message}\n`)
          io.stdout.write(`${plural(result.problems.length, 'problem')}: ${result.target}: ${summary}\n`)
        }
      }
      if (!result.ok) throw new ReportedError(ExitCode.Problems)
    })
}

import { maxOf } from '../arrays.js'
import { ExitCode } from '../errors.js'
import { connectOptions, Flags, withConnectOptions, type RegisterCommand } from './options.js'
import { plural, printJson, ReportedError } from './output.js'

export const verifyCommand: RegisterCommand = (cli, io) => {
  withConnectOptions(cli.command('verify <target>', 'Check a live site (URL) or a site directory as a consumer walks it: types, caching, sizes, digests, /v2/'))
    .option('--deep', 'Download and hash every blob (default: HEAD and compare sizes)')
    .option('--name <path>', 'Check this image path (default: every image in /v2/_catalog); repeatable')
    .option('--concurrency <n>', 'Requests at once (default 16)')
    .option('--json', 'Print the result as JSON (see README: verify --json)')
    .example('ocisite verify https://example.com')
    .example('ocisite verify public --deep')
    .example('ocisite verify http://127.0.0.1:8080 --name org/app --json')
    .example('ocisite verify https://example.com --resolve example.com:443:192.0.2.10    # a staging server, under the real name')
    .action(async (target: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { verifySite } = await import('../site/audit/verify.js')
      const options = { deep: f.on('deep'), names: f.list('name'), concurrency: f.positiveInt('concurrency'), ...(await connectOptions(f, io, [target])) }
      const result = await verifySite(target, options)
      if (f.on('json')) printJson(io, result)
      else {
        const c = result.checked
        const summary = `${plural(c.images, 'image')}, ${plural(c.tags, 'tag')}, ${plural(c.manifests, 'manifest')}, ${plural(c.blobs, 'blob')}${result.deep ? ' (hashed)' : ''}; ${plural(c.requests, 'request')}; /v2/ ${result.v2 ? 'served' : 'not served'}`
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

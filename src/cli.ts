import { cac, type CAC } from 'cac'
import { ExitCode, isOcisiteError } from './errors.js'
import { buildProgress, formatBytes, type CliIo } from './cli/output.js'
import { buildDefaults } from './site/options.js'
import { serveDefaults } from './site/serve.js'

const toArray = (v: unknown): string[] | undefined => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map(String))
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v))

function define(cli: CAC, io: CliIo): void {
  cli
    .command('build [...inputs]', 'Build a static site from OCI layouts, archives, or directories holding them')
    .option('--host <host>', 'Host the site is published for (example.com)')
    .option('--out <dir>', 'Output directory', { default: buildDefaults.out })
    .option('--config <file>', `Config file (default: ./${buildDefaults.config} when present)`)
    .option('--tags <glob>', 'Publish only tags matching this glob; repeatable')
    .option('--base-url <url>', 'Make engine templates absolute under this URL')
    .option('--nginx <file>', 'Write an nginx server config here (outside --out)')
    .option('--listen <addr>', `nginx listen address (default ${buildDefaults.listen}; 443 with TLS)`)
    .option('--tls-cert <file>', 'TLS certificate for the nginx config')
    .option('--tls-key <file>', 'TLS key for the nginx config')
    .option('--no-v2', 'Leave out the static /v2/ distribution tree')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite build layouts/ --host example.com --out public --nginx site.conf')
    .example('ocisite build --config ocisite.json')
    .action(async (inputs: string[], flags: Record<string, unknown>) => {
      const { build } = await import('./site/build.js')
      const progress = buildProgress(io)
      const result = await build({
        inputs,
        host: str(flags.host),
        // cac fills the default; let a config file's "out" win unless --out was given explicitly.
        out: flags.out === buildDefaults.out ? undefined : str(flags.out),
        config: str(flags.config),
        tags: toArray(flags.tags),
        baseUrl: str(flags.baseUrl),
        nginx: str(flags.nginx),
        listen: str(flags.listen),
        tlsCert: str(flags.tlsCert),
        tlsKey: str(flags.tlsKey),
        v2: flags.v2 !== false,
        onProgress: progress.listener,
      }).finally(() => progress.finish())
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
        return
      }
      for (const image of result.images) io.stdout.write(`${result.host}/${image.path}: ${image.tags.map((t) => t.tag).join(', ')}\n`)
      io.stdout.write(
        `${result.blobs.total} blobs (${formatBytes(result.blobs.bytesTotal)}): ${result.blobs.written} written, ${result.blobs.skipped} already present; ` +
          `${result.documents.written} documents written, ${result.documents.unchanged} unchanged${result.pruned ? `, ${result.pruned} stale files removed` : ''}\n`,
      )
      io.stdout.write(`site: ${result.out}\n`)
      if (result.nginx) io.stdout.write(`nginx config: ${result.nginx}\n`)
    })

  cli
    .command('serve [dir]', 'Preview a built site over HTTP, with the same routes and headers as the nginx config')
    .option('--port <port>', 'Port', { default: serveDefaults.port })
    .option('--host <addr>', 'Address to listen on', { default: serveDefaults.host })
    .example('ocisite serve public --port 8080')
    .action(async (dir: string | undefined, flags: Record<string, unknown>) => {
      const { serve } = await import('./site/serve.js')
      const server = await serve({ dir: dir ?? serveDefaults.dir, port: Number(flags.port), host: String(flags.host) })
      io.stdout.write(`serving ${dir ?? serveDefaults.dir} at ${server.url} (Ctrl-C to stop)\n`)
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve)
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })
}

/** Run the CLI on `argv` (as process.argv), returning the exit code. Never exits the process. */
export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCode> {
  const cli = cac('ocisite')
  define(cli, io)
  cli.help()
  cli.version('0.1.0')
  try {
    cli.parse(argv, { run: false })
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return ExitCode.Ok
      if (cli.args.length > 0) {
        io.stderr.write(`ocisite: error: unknown command "${cli.args[0]}"; see ocisite --help\n`)
        return ExitCode.Input
      }
      cli.outputHelp()
      return ExitCode.Input
    }
    await cli.runMatchedCommand()
    return ExitCode.Ok
  } catch (err) {
    if (isOcisiteError(err)) {
      io.stderr.write(`ocisite: error[${err.code}]: ${err.message}\n`)
      return err.exitCode
    }
    if (err instanceof Error && err.name === 'CACError') {
      io.stderr.write(`ocisite: error: ${err.message}\n`)
      return ExitCode.Input
    }
    io.stderr.write(`ocisite: internal error (a bug; please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    return ExitCode.Internal
  }
}

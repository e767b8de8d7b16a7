import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { clientReporter, formatBytes, plural, printJson } from './output.js'

export const pullCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('pull <name> <dest>', 'Resolve a name and fetch its content into an OCI image layout'))
    .option('--platform <os/arch[/variant]>', 'Pick this platform from a multi-platform index (default: this machine)')
    .option('--all-platforms', 'Pull every platform of a multi-platform index')
    .option('--concurrency <n>', 'Blobs fetched at once (default 4)')
    .option('--lock <file>', 'Fetch by the digest this lock file pins, never by tag')
    .option('--force', 'Write the layout into a non-empty directory that is not an OCI layout (its other files are left alone)')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite pull example.com/app#1.0 ./app-layout')
    .example('ocisite pull --protocol http --port 8080 --platform linux/arm64/v8 localhost/tools/multi#2.0 ./multi')
    .action(async (name: string, dest: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { pull } = await import('../client/pull.js')
      const options = { ...(await clientOptions(f, io, [name])), allPlatforms: f.on('allPlatforms'), concurrency: f.positiveInt('concurrency'), lock: f.text('lock'), force: f.on('force') }
      const reporter = clientReporter(io, f.on('verbose'))
      const result = await pull(name, dest, { ...options, onEvent: reporter.listener }).finally(() => reporter.finish())
      if (f.on('json')) return printJson(io, result)
      for (const r of result.roots) io.stdout.write(`${name} → ${r.digest}${r.platform ? ` (${r.platform})` : ''}${r.tag ? ` tagged ${r.tag}` : ''}\n`)
      io.stdout.write(`${plural(result.blobs.total, 'blob')}: ${result.blobs.fetched} fetched (${formatBytes(result.blobs.bytesFetched)}), ${result.blobs.cached} already present; layout: ${result.dest}\n`)
    })
}

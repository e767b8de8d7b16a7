import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { clientReporter, printJson } from './output.js'

export const getCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('get <name> <dir>', 'Fetch an artifact (through a cache) and write its files into DIR'))
    .option('--platform <os/arch[/variant]>', 'Pick this platform from a multi-platform index')
    .option('--lock <file>', 'Fetch by the digest this lock file pins, never by tag')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite get example.com/stacks/web#1.0 ./web')
    .example('ocisite get example.com/deploy#v3 ./deploy --lock ocisite.lock')
    .action(async (name: string, dir: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { get } = await import('../client/get.js')
      const options = { ...(await clientOptions(f, io, [name])), lock: f.text('lock') }
      const reporter = clientReporter(io, f.on('verbose'))
      const result = await get(name, dir, { ...options, onEvent: reporter.listener }).finally(() => reporter.finish())
      if (f.on('json')) return printJson(io, result)
      const entries = `${result.files.length} ${result.files.length === 1 ? 'entry' : 'entries'}`
      io.stdout.write(`${name} → ${result.digest}: ${entries} in ${result.dir} (${result.blobs.fetched} fetched, ${result.blobs.cached} from the cache)\n`)
    })
}

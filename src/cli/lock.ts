import { lockDefaults } from '../defaults.js'
import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { clientReporter, plural } from './output.js'

export const lockCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('lock <...names>', 'Pin names (NAME#TAG, or NAME#GLOB for every matching tag) to digests in a lock file'))
    .option('--out <file>', `The lock file to write (default ${lockDefaults.out})`)
    .example('ocisite lock example.com/stacks/web#1.0 example.com/deploy#v* --out ocisite.lock')
    .action(async (names: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { lock } = await import('../client/get.js')
      const out = f.text('out') ?? lockDefaults.out
      const reporter = clientReporter(io, f.on('verbose'))
      const file = await lock(names, { ...clientOptions(f), out, onEvent: reporter.listener }).finally(() => reporter.finish())
      for (const p of file.pins) io.stdout.write(`${p.name} → ${p.digest}\n`)
      io.stdout.write(`${plural(file.pins.length, 'pin')} written to ${out}\n`)
    })
}

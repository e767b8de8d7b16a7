import { lockDefaults } from '../defaults.js'
import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { clientReporter, plural, printJson } from './output.js'

export const lockCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('lock <...names>', 'Pin names (NAME#TAG, or NAME#GLOB for every matching tag) to digests in a lock file, keeping its other pins'))
    .option('--out <file>', `The lock file to create or update (default ${lockDefaults.out})`)
    .option('--prune', 'Drop the pins of names not given in this run')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite lock example.com/stacks/web#1.0 example.com/deploy#v* --out ocisite.lock')
    .example('ocisite lock example.com/db#5.7                 # updates that pin; the others stay')
    .action(async (names: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { lock } = await import('../client/lock.js')
      const out = f.text('out') ?? lockDefaults.out
      const options = { ...(await clientOptions(f, io, names)), out, prune: f.on('prune') }
      const reporter = clientReporter(io, f.on('verbose'))
      const result = await lock(names, { ...options, onEvent: reporter.listener }).finally(() => reporter.finish())
      if (f.on('json')) return printJson(io, result)
      const c = result.changes
      const what = new Map<string, string>([...c.added.map((n) => [n, 'added'] as const), ...c.unchanged.map((n) => [n, 'unchanged'] as const), ...c.kept.map((n) => [n, 'kept'] as const)])
      for (const u of c.updated) what.set(u.name, `updated (was ${u.from})`)
      for (const p of result.pins) io.stdout.write(`${p.name} → ${p.digest}  ${what.get(p.name) ?? ''}\n`)
      for (const n of c.dropped) io.stdout.write(`${n}  dropped\n`)
      const counts = [`${c.added.length} added`, `${c.updated.length} updated`, `${c.unchanged.length} unchanged`, `${c.kept.length} kept`, ...(options.prune ? [`${c.dropped.length} dropped`] : [])]
      io.stdout.write(`${plural(result.pins.length, 'pin')} in ${out}${result.written ? '' : ' (file unchanged)'}: ${counts.join(', ')}\n`)
    })
}

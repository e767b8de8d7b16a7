import type { TaggedRoot } from '../client/resolve.js'
import { Flags, clientOptions, withDiscoveryOptions, type RegisterCommand } from './options.js'
import { clientReporter, printJson, ReportedError, type CliIo } from './output.js'

/** `example.com/app#1.0 → sha256:… (linux/amd64)`: one line per root, the tag from its index entry. */
async function printRoots(io: CliIo, name: string, roots: TaggedRoot[]): Promise<void> {
  const { formatPlatform } = await import('../oci/platform.js')
  const { isIndexType } = await import('../oci/media-types.js')
  const base = name.includes('#') ? name.slice(0, name.indexOf('#')) : name
  for (const { tag, root } of roots) {
    const d = root.descriptor
    const what = d.platform ? formatPlatform(d.platform) : isIndexType(d.mediaType) ? 'multi-platform index' : d.artifactType
    io.stdout.write(`${base}${tag === undefined ? '' : `#${tag}`} → ${d.digest}${what ? ` (${what})` : ''}\n`)
  }
}

export const resolveCommand: RegisterCommand = (cli, io) => {
  withDiscoveryOptions(cli.command('resolve <...names>', 'Resolve host-based image names (example.com/app#1.0) through ref-engine discovery'))
    .option('--platform <os/arch[/variant]>', 'Follow multi-platform indexes to this platform')
    .option('--json', 'Print JSON (the default when stdout is not a terminal)')
    .example('ocisite resolve example.com/app#1.0')
    .example('ocisite resolve --protocol http --port 8080 localhost/hello#1.0 --json')
    .action(async (names: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { resolveNames } = await import('../client/resolve.js')
      const options = await clientOptions(f, io, names)
      const reporter = clientReporter(io, f.on('verbose'))
      const results = await resolveNames(names, { ...options, onEvent: reporter.listener }).finally(() => reporter.finish())
      const failed = results.flatMap((r) => ('error' in r ? [r.error] : []))
      const { redact } = await import('../client/credentials/redact.js')
      for (const err of failed) io.stderr.write(`ocisite: error[${err.code}]: ${redact(err.message)}\n`)
      const resolved = results.flatMap((r) => ('roots' in r ? [r] : []))
      if (f.on('json') || !io.stdout.isTTY) printJson(io, Object.fromEntries(resolved.map((r) => [r.name, r.roots.map((t) => t.root)])))
      else for (const r of resolved) await printRoots(io, r.name, r.roots)
      if (failed[0]) throw new ReportedError(failed[0].exitCode)
    })
}

import { OcisiteError } from '../errors.js'
import type { InspectResult } from '../site/audit/inspect.js'
import { connectOptions, Flags, withConnectOptions, type RegisterCommand } from './options.js'
import { formatBytes, printJson, type CliIo } from './output.js'

function printInspect(io: CliIo, r: InspectResult): void {
  const out: string[] = [`${r.path}${r.reference.includes(':') ? '@' : '#'}${r.reference}`]
  const line = (key: string, value: string, indent = '') => out.push(`${indent}${key.padEnd(11 - indent.length)} ${value}`)
  line('digest', r.digest)
  line('media type', `${r.mediaType} (${formatBytes(r.size)})`)
  if (r.artifactType) line('artifact', r.artifactType)
  if (r.tags.length > 0) line('tags', r.tags.join(', '))
  line('created', r.created ?? 'unknown')
  for (const [k, v] of Object.entries(r.annotations)) line(k, v)
  for (const m of r.manifests) {
    out.push(`${m.platform ?? m.artifactType ?? 'manifest'}  ${m.digest}  ${formatBytes(m.compressedSize)} compressed`)
    const c = m.config
    if (c) {
      line('config', `${c.digest} ${c.mediaType} (${formatBytes(c.size)})`, '  ')
      if (c.created) line('created', c.created, '  ')
      if (c.entrypoint) line('entrypoint', JSON.stringify(c.entrypoint), '  ')
      if (c.cmd) line('cmd', JSON.stringify(c.cmd), '  ')
      for (const [k, v] of Object.entries(c.labels ?? {})) line('label', `${k}=${v}`, '  ')
    }
    for (const l of m.layers) line('layer', `${l.digest} ${formatBytes(l.size)} ${l.mediaType}${l.title ? ` ${l.title}` : ''}`, '  ')
  }
  for (const ref of r.referrers) line('referrer', `${ref.digest} ${ref.kind} ${ref.artifactType ?? ref.mediaType}`)
  line('signed', r.signed ? 'yes' : 'no')
  io.stdout.write(`${out.join('\n')}\n`)
}

export const inspectCommand: RegisterCommand = (cli, io) => {
  withConnectOptions(cli.command('inspect <name>', 'Show a tag or digest: the manifest in brief, each platform\'s config and layers with sizes, the referrers'))
    .option('--site <target>', 'Read this site directory or URL (NAME is then PATH#TAG or PATH@DIGEST)')
    .option('--platform <os/arch[/variant]>', 'Only this platform of a multi-platform index')
    .option('--protocol <scheme>', 'https (default) or http, for HOST/PATH#TAG without --site')
    .option('--port <port>', 'Port of HOST, without --site')
    .option('--json', 'Print JSON (see README: inspect --json)')
    .example('ocisite inspect example.com/org/app#1.0')
    .example('ocisite inspect org/app@sha256:… --site public --json')
    .example('ocisite inspect localhost/app#1.0 --protocol http --port 8080 --platform linux/arm64/v8')
    .action(async (name: string, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { inspect, inspectTarget } = await import('../site/audit/inspect.js')
      const protocol = f.text('protocol')
      if (protocol !== undefined && protocol !== 'https' && protocol !== 'http') throw new OcisiteError('CONFIG_INVALID', `--protocol ${protocol}: use https or http`)
      const { target, reference } = inspectTarget(name, f.text('site'), protocol, f.port('port'))
      const result = await inspect(target, reference, { platform: f.text('platform'), ...(await connectOptions(f, io, [target])) })
      if (f.on('json')) printJson(io, result)
      else printInspect(io, result)
    })
}

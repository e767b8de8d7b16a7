import { Flags, signValues, siteDir, withSignOptions, type RegisterCommand } from './options.js'
import { buildProgress, printJson } from './output.js'
import { writeReport } from './write-report.js'

export const signCommand: RegisterCommand = (cli, io) => {
  withSignOptions(cli.command('sign [...names]', 'Sign tags a site already publishes (PATH#TAG): gpg (--sign-by) and cosign (--sign-key)'), false)
    .option('--site <dir>', 'The site whose tags to sign')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
    .option('--dry-run', 'Show what would change; change nothing')
    .option('--json', 'Print a machine-readable summary (as build --json)')
    .example('COSIGN_PASSWORD=… ocisite sign org/app#1.0 --site public --sign-key cosign.key')
    .example('ocisite sign org/app#1.0 --site public --sign-by 0123456789ABCDEF0123456789ABCDEF01234567')
    .action(async (names: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { signSite } = await import('../site/sign/sign-site.js')
      const progress = buildProgress(io)
      const options = { site: siteDir(f), names, wait: f.negated('wait'), dryRun: f.on('dryRun'), ...signValues(f) }
      const result = await signSite({ ...options, onProgress: progress.listener }).finally(() => progress.finish())
      if (f.on('json')) return printJson(io, result)
      io.stdout.write(writeReport(result, false))
    })
}

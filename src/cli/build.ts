import { buildDefaults } from '../defaults.js'
import type { BuildOptions } from '../site/options.js'
import { copyValues, Flags, withCopyOptions, type RegisterCommand } from './options.js'
import { buildProgress, printJson } from './output.js'
import { writeReport } from './write-report.js'

/**
 * The build flags as the core takes them. A flag not given is undefined, never a default: the
 * core merges flag > ocisite.json > default in one place (normalizeBuildOptions).
 */
export function buildOptions(inputs: string[], f: Flags): BuildOptions {
  return {
    inputs,
    host: f.text('host'),
    out: f.text('out'),
    config: f.text('config'),
    tags: f.list('tags'),
    baseUrl: f.text('baseUrl'),
    nginx: f.text('nginx'),
    root: f.text('root'),
    listen: f.list('listen'),
    httpListen: f.list('httpListen'),
    tlsCert: f.text('tlsCert'),
    tlsKey: f.text('tlsKey'),
    acmeRoot: f.text('acmeRoot'),
    authBasic: f.text('authBasic'),
    authPath: f.list('authPath'),
    authRealm: f.text('authRealm'),
    v2: f.negated('v2'),
    headersFile: f.on('headersFile') || undefined,
    html: f.negated('html'),
    force: f.on('force'),
    dryRun: f.on('dryRun'),
    ...copyValues(f),
  }
}

export const buildCommand: RegisterCommand = (cli, io) => {
  withCopyOptions(cli.command('build [...inputs]', 'Build a static site from OCI layouts, archives, or directories holding them'))
    .option('--host <host>', 'Host the site is published for (example.com)')
    .option('--out <dir>', `Output directory (default: "out" in ocisite.json, else ${buildDefaults.out})`)
    .option('--config <file>', `Config file (default: ./${buildDefaults.config} when present)`)
    .option('--tags <glob>', 'Publish only tags matching this glob; repeatable; wins over "tags" in ocisite.json')
    .option('--base-url <url>', 'Make engine templates absolute under this URL')
    .option('--nginx <file>', 'Write an nginx server config here (outside --out)')
    .option('--root <dir>', 'Directory the server will serve, if not --out (a release symlink, a server path)')
    .option('--listen <addr>', `nginx listen address, PORT, ADDRESS:PORT or [IPv6]:PORT; repeatable (default ${buildDefaults.listen.join(' and ')}; ${buildDefaults.tlsListen.join(' and ')} with TLS)`)
    .option('--tls-cert <file>', 'TLS certificate for the nginx config')
    .option('--tls-key <file>', 'TLS key for the nginx config')
    .option('--http-listen <addr>', `With TLS: where the HTTP-to-HTTPS redirect server listens; repeatable (default ${buildDefaults.listen.join(' and ')})`)
    .option('--acme-root <dir>', 'Serve /.well-known/acme-challenge/ from this directory (certbot --webroot)')
    .option('--auth-basic <file>', 'The nginx config asks for HTTP Basic credentials of the users in this htpasswd file (bcrypt, {SHA} or apr1)')
    .option('--auth-path <prefix>', 'Protect only this URI prefix (/v2/private/, /oci-index/private); repeatable; default: the whole site')
    .option('--auth-realm <realm>', 'The realm clients are shown (default: the host)')
    .option('--no-v2', 'Leave out the static /v2/ distribution tree')
    .option('--headers-file', 'Also write _headers (Netlify, Cloudflare Pages) for the discovery paths')
    .option('--no-html', 'Leave out the HTML pages (the home page and a page per image)')
    .option('--force', 'Publish into a non-empty directory that is not an ocisite site (its other files are left alone)')
    .option('--dry-run', 'Show what would be published, unpublished and deleted; change nothing')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite build layouts/ --host example.com --out public --nginx site.conf')
    .example('ocisite build --config ocisite.json')
    .example('ocisite build layouts/ --host example.com --out releases/42 --root /srv/site/current --nginx site.conf')
    .action(async (inputs: string[], raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { build } = await import('../site/build.js')
      const progress = buildProgress(io)
      const result = await build({ ...buildOptions(inputs, f), onProgress: progress.listener }).finally(() => progress.finish())
      if (f.on('json')) return printJson(io, result)
      io.stdout.write(`${writeReport(result, true)}site: ${result.out}\n`)
      if (result.nginx) io.stdout.write(`nginx config: ${result.nginx}\n`)
    })
}

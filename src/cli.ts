import { cac, type CAC, type Command } from 'cac'
import { ExitCode, isOcisiteError, OcisiteError } from './errors.js'
import { buildProgress, clientReporter, formatBytes, plural, publishedLines, type CliIo } from './cli/output.js'
import { buildDefaults, pullDefaults, serveDefaults } from './defaults.js'
import { defaultMinSpeed } from './client/http.js'
import { defaultConcurrency } from './store/copy.js'

const toArray = (v: unknown): string[] | undefined => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map(String))
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v))
/** A value read as text (`--tag 1.0` stays "1.0"), given at most once. */
function single(v: unknown, flag: string): string | undefined {
  const all = toArray(v)
  if (all && all.length > 1) throw new OcisiteError('CONFIG_INVALID', `${flag} is given ${all.length} times; give it once`)
  return all?.[0]
}

function positiveInt(v: unknown, flag: string): number {
  const n = Number(v)
  if (!(Number.isInteger(n) && n > 0)) throw new OcisiteError('CONFIG_INVALID', `${flag} ${String(v)} must be a positive whole number`)
  return n
}

/** `8G`, `512M`, `1024`: a size in bytes. */
function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim())
  if (!m) throw new OcisiteError('CONFIG_INVALID', `${flag} ${text}: use a size such as 8G, 512M or 1048576`)
  return Math.floor(Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()))
}

/** `24h`, `30m`, `7d`, `90s`, `0`: a duration in milliseconds. */
function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim())
  if (!m) throw new OcisiteError('CONFIG_INVALID', `${flag} ${text}: use a duration such as 24h, 30m, 7d or 0`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase() as 'ms']
  return Number(m[1]) * unit
}

function requireSite(flags: Record<string, unknown>): string {
  const site = str(flags.site)
  if (site === undefined) throw new OcisiteError('CONFIG_INVALID', '--site is required: the site directory (made by ocisite build)')
  return site
}

/** What build and add share: how blobs are copied in, and waiting for the site's lock. */
function withCopyOptions(command: Command): Command {
  return command
    .option('--max-archive-size <size>', 'Largest uncompressed input archive, in bytes or with K, M, G (default 8G)')
    .option('--concurrency <n>', `Blobs copied at once (default ${defaultConcurrency}, from the CPU count)`)
    .option('--verify', 'Re-hash every blob, trusting no cached verification (.ocisite/verified.json)')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
}

function copyValues(flags: Record<string, unknown>): { verify: boolean; concurrency?: number; maxArchiveSize?: number; wait: boolean } {
  return {
    verify: !!flags.verify,
    ...(flags.concurrency === undefined ? {} : { concurrency: positiveInt(flags.concurrency, '--concurrency') }),
    ...(flags.maxArchiveSize === undefined ? {} : { maxArchiveSize: parseSize(String(flags.maxArchiveSize), '--max-archive-size') }),
    wait: flags.wait !== false,
  }
}

function define(cli: CAC, io: CliIo): void {
  withCopyOptions(cli.command('build [...inputs]', 'Build a static site from OCI layouts, archives, or directories holding them'))
    .option('--host <host>', 'Host the site is published for (example.com)')
    .option('--out <dir>', 'Output directory', { default: buildDefaults.out })
    .option('--config <file>', `Config file (default: ./${buildDefaults.config} when present)`)
    .option('--tags <glob>', 'Publish only tags matching this glob; repeatable')
    .option('--base-url <url>', 'Make engine templates absolute under this URL')
    .option('--nginx <file>', 'Write an nginx server config here (outside --out)')
    .option('--root <dir>', 'Directory the server will serve, if not --out (a release symlink, a server path)')
    .option('--listen <addr>', `nginx listen address, PORT, ADDRESS:PORT or [IPv6]:PORT; repeatable (default ${buildDefaults.listen.join(' and ')}; ${buildDefaults.tlsListen.join(' and ')} with TLS)`)
    .option('--tls-cert <file>', 'TLS certificate for the nginx config')
    .option('--tls-key <file>', 'TLS key for the nginx config')
    .option('--http-listen <addr>', `With TLS: where the HTTP-to-HTTPS redirect server listens; repeatable (default ${buildDefaults.listen.join(' and ')})`)
    .option('--acme-root <dir>', 'Serve /.well-known/acme-challenge/ from this directory (certbot --webroot)')
    .option('--no-v2', 'Leave out the static /v2/ distribution tree')
    .option('--headers-file', 'Also write _headers (Netlify, Cloudflare Pages) for the discovery paths')
    .option('--force', 'Publish into a non-empty directory that is not an ocisite site (its other files are left alone)')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite build layouts/ --host example.com --out public --nginx site.conf')
    .example('ocisite build --config ocisite.json')
    .example('ocisite build layouts/ --host example.com --out releases/42 --root /srv/site/current --nginx site.conf')
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
        root: str(flags.root),
        listen: toArray(flags.listen),
        httpListen: toArray(flags.httpListen),
        tlsCert: str(flags.tlsCert),
        tlsKey: str(flags.tlsKey),
        acmeRoot: str(flags.acmeRoot),
        v2: flags.v2 !== false,
        headersFile: flags.headersFile ? true : undefined,
        force: !!flags.force,
        ...copyValues(flags),
        onProgress: progress.listener,
      }).finally(() => progress.finish())
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
        return
      }
      io.stdout.write(publishedLines(result))
      io.stdout.write(writeSummary(result))
      io.stdout.write(`site: ${result.out}\n`)
      if (result.nginx) io.stdout.write(`nginx config: ${result.nginx}\n`)
    })

  /** The one summary line of a write (build, add, rm). */
  const writeSummary = (result: Awaited<ReturnType<typeof import('./site/build.js').build>>) =>
    `${plural(result.blobs.total, 'blob')} (${formatBytes(result.blobs.bytesTotal)}): ${result.blobs.written} written, ${result.blobs.skipped} already present; ` +
    `${plural(result.documents.written, 'document')} written, ${result.documents.unchanged} unchanged${result.pruned ? `, ${plural(result.pruned, 'stale file')} removed` : ''}\n`

  withCopyOptions(cli.command('add [...inputs]', 'Publish layouts or archives into an existing site, leaving its other images alone'))
    .option('--site <dir>', 'The site to publish into (made by ocisite build)')
    .option('--path <path>', 'Image path for a single layout or archive (a prefix for a searched directory)')
    .option('--tags <glob>', 'Publish only tags matching this glob; repeatable')
    .option('--force', 'Move tags the site already publishes with another digest')
    .option('--json', 'Print a machine-readable summary (as build --json)')
    .example('ocisite add app-layout --path org/app --site public')
    .example('ocisite add app.tar --site public --tags "v*" --force')
    .action(async (inputs: string[], flags: Record<string, unknown>) => {
      const { add } = await import('./site/publish.js')
      const site = requireSite(flags)
      const progress = buildProgress(io)
      const result = await add({
        site,
        inputs,
        path: single(flags.path, '--path'),
        tags: toArray(flags.tags),
        force: !!flags.force,
        ...copyValues(flags),
        onProgress: progress.listener,
      }).finally(() => progress.finish())
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      io.stdout.write(publishedLines(result))
      io.stdout.write(writeSummary(result))
    })

  cli
    .command('rm [...names]', 'Remove tags (PATH#TAG), or whole images (PATH), from a site; blobs stay until prune')
    .option('--site <dir>', 'The site to remove from')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
    .option('--json', 'Print a machine-readable summary (as build --json)')
    .example('ocisite rm org/app#1.0 --site public')
    .example('ocisite rm example.com/old-app --site public')
    .action(async (names: string[], flags: Record<string, unknown>) => {
      const { rm } = await import('./site/publish.js')
      const progress = buildProgress(io)
      const result = await rm({ site: requireSite(flags), names, wait: flags.wait !== false, onProgress: progress.listener }).finally(() => progress.finish())
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      io.stdout.write(`removed ${names.join(', ')}; ${writeSummary(result)}`)
    })

  cli
    .command('prune', 'Delete blobs nothing has referenced for longer than the grace period')
    .option('--site <dir>', 'The site to prune')
    .option('--grace <duration>', 'How long a blob must have been unreferenced: 24h, 30m, 7d, 0 (default 24h)')
    .option('--dry-run', 'List what would be deleted; change nothing')
    .option('--no-wait', 'Fail at once if another ocisite is writing the site, instead of waiting')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite prune --site public --grace 24h --dry-run')
    .action(async (flags: Record<string, unknown>) => {
      const { prune } = await import('./site/prune.js')
      const result = await prune({ site: requireSite(flags), grace: flags.grace === undefined ? undefined : parseDuration(String(flags.grace), '--grace'), dryRun: !!flags.dryRun, wait: flags.wait !== false })
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      for (const b of result.removed) io.stdout.write(`${result.dryRun ? 'would delete' : 'deleted'} ${b.digest} (${formatBytes(b.size)}, unreferenced since ${b.unreferencedSince})\n`)
      io.stdout.write(
        `${result.dryRun ? 'would delete' : 'deleted'} ${plural(result.removed.length, 'blob')} (${formatBytes(result.bytesRemoved)}); ${plural(result.waiting.length, 'unreferenced blob')} still inside the grace period\n`,
      )
    })

  cli
    .command('verify <target>', 'Check a live site (URL) or a site directory as a consumer walks it: types, caching, sizes, digests, /v2/')
    .option('--deep', 'Download and hash every blob (default: HEAD and compare sizes)')
    .option('--name <path>', 'Check this image path (default: every image in /v2/_catalog); repeatable')
    .option('--concurrency <n>', 'Requests at once (default 16)')
    .option('--json', 'Print the result as JSON (see README: verify --json)')
    .example('ocisite verify https://example.com')
    .example('ocisite verify public --deep')
    .example('ocisite verify http://127.0.0.1:8080 --name org/app --json')
    .action(async (target: string, flags: Record<string, unknown>) => {
      const { verifySite } = await import('./client/verify-site.js')
      const result = await verifySite(String(target), { deep: !!flags.deep, names: toArray(flags.name), concurrency: flags.concurrency === undefined ? undefined : positiveInt(flags.concurrency, '--concurrency') })
      if (flags.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      else {
        const c = result.checked
        const summary = `${plural(c.images, 'image')}, ${plural(c.tags, 'tag')}, ${plural(c.manifests, 'manifest')}, ${plural(c.blobs, 'blob')}${result.deep ? ' (hashed)' : ''}; ${plural(c.requests, 'request')}; /v2/ ${result.v2 ? 'served' : 'not served'}`
        if (result.ok) io.stdout.write(`ok: ${result.target}: ${summary}\n`)
        else {
          const width = Math.max(...result.problems.map((p) => p.kind.length))
          for (const p of result.problems) io.stdout.write(`${p.kind.padEnd(width)}  ${p.url}\n${' '.repeat(width)}  ${p.message}\n`)
          io.stdout.write(`${plural(result.problems.length, 'problem')}: ${result.target}: ${summary}\n`)
        }
      }
      if (!result.ok) throw new ReportedError(ExitCode.Problems)
    })

  cli
    .command('deploy <site> <target>', 'Copy a built site into an S3-compatible bucket (s3://BUCKET[/PREFIX]), /v2/ included, in a safe order')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, R2, …); default: AWS')
    .option('--path-style', 'Path-style bucket URLs (most S3-compatible stores need this)')
    .option('--region <region>', 'Region (default: from AWS_REGION or the profile; us-east-1 with --endpoint)')
    .option('--concurrency <n>', 'Objects uploaded at once (default 8)')
    .option('--delete', 'Remove objects the site no longer has (only under oci-cas/, oci-index/, v2/), after the documents are switched')
    .option('--index-document <name>', "The bucket website's index document suffix, which answers /v2/ (default index.html)")
    .option('--dry-run', 'Show what would be uploaded and deleted; change nothing')
    .option('--json', 'Print a machine-readable summary (the keys uploaded and deleted)')
    .example('ocisite deploy public s3://my-bucket')
    .example('ocisite deploy public s3://site/prefix --endpoint http://127.0.0.1:9000 --path-style --delete')
    .action(async (site: string, target: string, flags: Record<string, unknown>) => {
      const { deploy } = await import('./site/deploy.js')
      const progress = buildProgress(io)
      const result = await deploy({
        site: String(site),
        target: String(target),
        endpoint: str(flags.endpoint),
        pathStyle: !!flags.pathStyle,
        region: str(flags.region),
        concurrency: flags.concurrency === undefined ? undefined : positiveInt(flags.concurrency, '--concurrency'),
        delete: !!flags.delete,
        dryRun: !!flags.dryRun,
        indexDocument: str(flags.indexDocument),
        onProgress: progress.listener,
      }).finally(() => progress.finish())
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      if (result.dryRun) for (const k of result.uploaded) io.stdout.write(`would upload ${k}\n`)
      if (result.dryRun) for (const k of result.deleted) io.stdout.write(`would delete ${k}\n`)
      const o = result.objects
      io.stdout.write(`${result.dryRun ? 'would upload' : 'uploaded'} ${plural(o.uploaded, 'object')} (${formatBytes(result.bytesUploaded)}), ${o.unchanged} unchanged${o.deleted ? `, ${result.dryRun ? 'would delete' : 'deleted'} ${o.deleted}` : ''}: ${result.target}\n`)
    })

  const clientOptions = (flags: Record<string, unknown>) => {
    const protocols = toArray(flags.protocol) ?? ['https']
    for (const p of protocols) if (p !== 'https' && p !== 'http') throw new OcisiteError('CONFIG_INVALID', `--protocol ${p}: use https or http`)
    const resolveHosts: Record<string, string> = {}
    for (const pair of toArray(flags.resolve) ?? []) {
      const [host, address] = pair.split('=')
      if (!host || !address) throw new OcisiteError('CONFIG_INVALID', `--resolve ${pair}: use HOST=ADDRESS`)
      resolveHosts[host.toLowerCase()] = address
    }
    const port = flags.port === undefined ? undefined : Number(flags.port)
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new OcisiteError('CONFIG_INVALID', `--port ${String(flags.port)} is not a port number`)
    const positive = (flag: string, v: unknown, fallback: number) => {
      if (v === undefined) return fallback
      const n = Number(v)
      if (!(Number.isFinite(n) && n > 0)) throw new OcisiteError('CONFIG_INVALID', `--${flag} ${String(v)} must be a positive number`)
      return n
    }
    const minSpeed = { bytesPerSecond: positive('speed-limit', flags.speedLimit, defaultMinSpeed.bytesPerSecond), seconds: positive('speed-time', flags.speedTime, defaultMinSpeed.seconds) }
    return { protocols: protocols as Array<'https' | 'http'>, port, resolveHosts, platform: str(flags.platform), minSpeed }
  }

  /** The discovery options resolve and pull share. */
  const withDiscoveryOptions = (command: Command) =>
    command
      .option('--protocol <scheme>', 'https (default) or http; repeat to try several, in order')
      .option('--port <port>', 'Port for the well-known URI')
      .option('--resolve <host=address>', 'Connect to ADDRESS for HOST (like curl --resolve); repeatable')
      .option('--verbose', 'Report every discovery attempt on stderr')
      .option('--speed-limit <bytes>', `Abandon a transfer slower than this many bytes/s over --speed-time (default ${defaultMinSpeed.bytesPerSecond})`)
      .option('--speed-time <seconds>', `The window for --speed-limit (default ${defaultMinSpeed.seconds})`)

  withDiscoveryOptions(cli.command('resolve <...names>', 'Resolve host-based image names (example.com/app#1.0) through ref-engine discovery'))
    .option('--platform <os/arch[/variant]>', 'Follow multi-platform indexes to this platform')
    .option('--json', 'Print JSON (the default when stdout is not a terminal)')
    .example('ocisite resolve example.com/app#1.0')
    .example('ocisite resolve --protocol http --port 8080 localhost/hello#1.0 --json')
    .action(async (names: string[], flags: Record<string, unknown>) => {
      const { resolve } = await import('./client/resolve.js')
      const reporter = clientReporter(io, !!flags.verbose)
      const out: Record<string, unknown> = {}
      let firstError: OcisiteError | undefined
      for (const name of names) {
        try {
          Object.assign(out, await resolve(name, { ...clientOptions(flags), onEvent: reporter.listener }))
        } catch (err) {
          if (!isOcisiteError(err)) throw err
          io.stderr.write(`ocisite: error[${err.code}]: ${err.message}\n`)
          firstError ??= err
        }
      }
      reporter.finish()
      if (flags.json || !io.stdout.isTTY) io.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
      else {
        for (const [name, roots] of Object.entries(out) as Array<[string, Array<{ descriptor: { digest: string; mediaType: string; size: number; platform?: { os: string; architecture: string; variant?: string } } }>]>) {
          for (const { descriptor: d } of roots) {
            const platform = d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/') : '-'
            io.stdout.write(`${name} → ${d.digest}  ${d.mediaType}  ${platform}  ${formatBytes(d.size)}\n`)
          }
        }
      }
      if (firstError) throw new ReportedError(firstError.exitCode)
    })

  withDiscoveryOptions(cli.command('pull <name> <dest>', 'Resolve a name and fetch its content into an OCI image layout'))
    .option('--platform <os/arch[/variant]>', 'Pick this platform from a multi-platform index (default: this machine)')
    .option('--all-platforms', 'Pull every platform of a multi-platform index')
    .option('--concurrency <n>', 'Blobs fetched at once', { default: pullDefaults.concurrency })
    .option('--lock <file>', 'Fetch by the digest this lock file pins, never by tag')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite pull example.com/app#1.0 ./app-layout')
    .example('ocisite pull --protocol http --port 8080 --platform linux/arm64/v8 localhost/tools/multi#2.0 ./multi')
    .action(async (name: string, dest: string, flags: Record<string, unknown>) => {
      const { pull } = await import('./client/pull.js')
      const concurrency = positiveInt(flags.concurrency, '--concurrency')
      const reporter = clientReporter(io, !!flags.verbose)
      const lockFile = str(flags.lock)
      const pinned = lockFile ? await (await import('./client/get.js')).pinFor(lockFile, name) : undefined
      const result = await pull(name, String(dest), { ...clientOptions(flags), allPlatforms: !!flags.allPlatforms, concurrency, ...(pinned ? { pinned } : {}), onEvent: reporter.listener }).finally(() => reporter.finish())
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
        return
      }
      for (const r of result.roots) io.stdout.write(`${name} → ${r.digest}${r.platform ? ` (${r.platform})` : ''}${r.tag ? ` tagged ${r.tag}` : ''}\n`)
      io.stdout.write(`${plural(result.blobs.total, 'blob')}: ${result.blobs.fetched} fetched (${formatBytes(result.blobs.bytesFetched)}), ${result.blobs.cached} already present; layout: ${result.dest}\n`)
    })

  withDiscoveryOptions(cli.command('pack [...paths]', 'Pack files (or a directory) as an OCI 1.1 artifact into an OCI layout'))
    .option('--out <layout>', 'The OCI layout to write (created, or merged into)')
    .option('--tag <tag>', 'Tag for the artifact in the layout')
    .option('--artifact-type <type>', 'The artifact type (default application/vnd.unknown.artifact.v1, as oras)')
    .option('--tar', 'Pack one directory as a single reproducible tar+gzip layer')
    .option('--annotation <k=v>', 'A manifest annotation; repeatable')
    .option('--subject <ref>', 'Make it a referrer of NAME#TAG on a site (resolved), or of a tag or digest in --out')
    .option('--preset <name>', `A seed format: ${'rsgo-stack, doco, aicr'}`)
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite pack stack.yaml:application/vnd.rsgo.stack.manifest.v1+yaml lock.json --out layouts/stack --tag 1.0')
    .example('ocisite pack deploy/ --preset doco --out layouts/deploy --tag v3')
    .example('SOURCE_DATE_EPOCH=1700000000 ocisite pack bundle/ --preset aicr --out layouts/bundle --tag v1.0.0')
    .example('ocisite pack sbom.spdx.json:application/spdx+json --subject example.com/app#1.0 --out layouts/app-sbom --tag sbom')
    .action(async (paths: string[], flags: Record<string, unknown>) => {
      const { pack, presets, subjectInLayout } = await import('./oci/pack.js')
      const { resolveSubject } = await import('./client/resolve.js')
      const out = str(flags.out)
      const tag = single(flags.tag, '--tag')
      if (!out || !tag) throw new OcisiteError('CONFIG_INVALID', 'pack needs --out LAYOUT and --tag TAG')
      const preset = str(flags.preset)
      if (preset !== undefined && !presets.includes(preset as never)) throw new OcisiteError('CONFIG_INVALID', `--preset ${preset}: use one of ${presets.join(', ')}`)
      const annotations: Record<string, string> = {}
      for (const a of toArray(flags.annotation) ?? []) {
        const eq = a.indexOf('=')
        if (eq <= 0) throw new OcisiteError('CONFIG_INVALID', `--annotation ${a}: use KEY=VALUE`)
        annotations[a.slice(0, eq)] = a.slice(eq + 1)
      }
      const epochText = process.env.SOURCE_DATE_EPOCH
      if (epochText !== undefined && !/^\d+$/.test(epochText)) throw new OcisiteError('CONFIG_INVALID', `SOURCE_DATE_EPOCH=${epochText} is not a whole number of seconds`)
      const subjectRef = str(flags.subject)
      const result = await pack({
        paths,
        out,
        tag,
        artifactType: str(flags.artifactType),
        tar: !!flags.tar,
        annotations,
        ...(subjectRef ? { subject: /^[^#]+\/[^#]+#./.test(subjectRef) ? await resolveSubject(subjectRef, clientOptions(flags)) : await subjectInLayout(out, subjectRef) } : {}),
        ...(preset ? { preset: preset as never } : {}),
        ...(epochText !== undefined ? { sourceDateEpoch: Number(epochText) } : {}),
      })
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      for (const l of result.layers) io.stdout.write(`${l.title}  ${l.mediaType}  ${l.digest}  ${formatBytes(l.size)}\n`)
      io.stdout.write(`${result.layout}:${result.tag} → ${result.digest} (${result.artifactType})\n`)
    })

  withDiscoveryOptions(cli.command('get <name> <dir>', 'Fetch an artifact (through a cache) and write its files into DIR'))
    .option('--platform <os/arch[/variant]>', 'Pick this platform from a multi-platform index')
    .option('--lock <file>', 'Fetch by the digest this lock file pins, never by tag')
    .option('--json', 'Print a machine-readable summary')
    .example('ocisite get example.com/stacks/web#1.0 ./web')
    .example('ocisite get example.com/deploy#v3 ./deploy --lock ocisite.lock')
    .action(async (name: string, dir: string, flags: Record<string, unknown>) => {
      const { get } = await import('./client/get.js')
      const reporter = clientReporter(io, !!flags.verbose)
      const result = await get(name, String(dir), { ...clientOptions(flags), lock: str(flags.lock), onEvent: reporter.listener }).finally(() => reporter.finish())
      if (flags.json) return void io.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      io.stdout.write(`${name} → ${result.digest}: ${result.files.length} ${result.files.length === 1 ? 'entry' : 'entries'} in ${result.dir} (${result.blobs.fetched} fetched, ${result.blobs.cached} from the cache)\n`)
    })

  withDiscoveryOptions(cli.command('lock <...names>', 'Pin names (NAME#TAG, or NAME#GLOB for every matching tag) to digests in a lock file'))
    .option('--out <file>', 'The lock file to write', { default: 'ocisite.lock' })
    .example('ocisite lock example.com/stacks/web#1.0 example.com/deploy#v* --out ocisite.lock')
    .action(async (names: string[], flags: Record<string, unknown>) => {
      const { lock } = await import('./client/get.js')
      const reporter = clientReporter(io, !!flags.verbose)
      const file = await lock(names, { ...clientOptions(flags), out: String(flags.out), onEvent: reporter.listener }).finally(() => reporter.finish())
      for (const p of file.pins) io.stdout.write(`${p.name} → ${p.digest}\n`)
      io.stdout.write(`${plural(file.pins.length, 'pin')} written to ${String(flags.out)}\n`)
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

const hyphenatedBooleans = new Set(['--all-platforms', '--headers-file', '--dry-run', '--path-style'])

/** Options whose values are text even when they look like numbers (`--tag 1.0`). */
const textFlags = new Set(['--tag', '--tags', '--path', '--name', '--annotation', '--out', '--host'])

/** The values of the text flags exactly as given, by camel-cased option name. */
function textValues(args: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') break
    const eq = a.indexOf('=')
    const flag = eq > 0 ? a.slice(0, eq) : a
    if (!textFlags.has(flag)) continue
    const value = eq > 0 ? a.slice(eq + 1) : args[++i]
    if (value === undefined) continue
    const name = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
    out.set(name, [...(out.get(name) ?? []), value])
  }
  return out
}

/** Thrown by a command that already reported its errors, to set the exit code. */
class ReportedError extends Error {
  constructor(readonly exitCode: ExitCode) {
    super('reported')
  }
}

/** Run the CLI on `argv` (as process.argv), returning the exit code. Never exits the process. */
export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCode> {
  const cli = cac('ocisite')
  define(cli, io)
  // cac gives `--no-x` flags a default of true and prints "(default: true)" beside them, which
  // reads as if the flag were on. Unset is enough: the commands test for `false`.
  for (const command of cli.commands) for (const option of command.options) if (option.negated) option.config.default = undefined
  cli.help()
  cli.version('0.1.0')
  try {
    // cac 7 tells its parser the camel-cased names of boolean flags, so a hyphenated boolean
    // flag would swallow the next argument as its value; spell it out as a value instead.
    const args = argv.map((a) => (hyphenatedBooleans.has(a) ? `${a}=true` : a))
    // The parser reads an empty value as the number 0 (`--host ''` would publish for host "0").
    args.forEach((a, i) => {
      const flag = /^(--[a-z-]+)=$/.exec(a)?.[1] ?? (a.startsWith('--') && args[i + 1] === '' ? a : undefined)
      if (flag) throw new OcisiteError('CONFIG_INVALID', `${flag} is empty; give it a value or leave it out`)
    })
    cli.parse(args, { run: false })
    // cac's parser reads "1.0" as the number 1; tags, paths and names are text, taken as typed.
    for (const [flag, values] of textValues(args)) cli.options[flag] = values.length === 1 ? values[0] : values
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
    if (err instanceof ReportedError) return err.exitCode
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

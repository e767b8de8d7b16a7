import { serveDefaults } from '../defaults.js'
import { Flags, type RegisterCommand } from './options.js'

export const serveCommand: RegisterCommand = (cli, io) => {
  cli
    .command('serve [dir]', 'Preview a built site over HTTP, with the same routes and headers as the nginx config')
    .option('--port <port>', `Port (default ${serveDefaults.port}; 0 picks a free one)`)
    .option('--host <addr>', `Address to listen on (default ${serveDefaults.host})`)
    .option('--auth-basic <file>', 'Ask for HTTP Basic credentials of the users in this htpasswd file, as the nginx config does')
    .option('--auth-path <prefix>', 'Protect only this URI prefix (/v2/private/, /oci-index/private); repeatable; default: the whole site')
    .option('--auth-realm <realm>', 'The realm clients are shown (default: the listening address)')
    .option('--quiet', 'Do not log requests (one line each on stdout: method, path, status, bytes)')
    .example('ocisite serve public --port 8080')
    .example('ocisite serve public --quiet')
    .action(async (dir: string | undefined, raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { serve } = await import('../site/serve/serve.js')
      const log = f.on('quiet') ? undefined : (r: { method: string; path: string; status: number; bytes: number }) => void io.stdout.write(`${r.method} ${r.path} ${r.status} ${r.bytes}\n`)
      const server = await serve({ dir, port: f.port('port', 0), host: f.text('host'), onRequest: log, authBasic: f.text('authBasic'), authPath: f.list('authPath'), authRealm: f.text('authRealm') })
      io.stdout.write(`serving ${dir ?? serveDefaults.dir} at ${server.url} (Ctrl-C to stop)\n`)
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve)
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })
}

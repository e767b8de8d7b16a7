import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { tempDir } from './fixtures.js'


/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Signal a child process and wait until it has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill(signal)
  await exited
}

export interface RunningNginx {
  prefix: string
  /** Output of `nginx -t`. */
  testOutput: string
  /** The error log and access log, as Debian's nginx.conf names them (inside the scratch prefix). */
  errorLog: string
  accessLog: string
  stop(): Promise<void>
}

/**
 * The distribution's nginx as operators run it: a copy of Debian's own /etc/nginx (nginx.conf
 * byte for byte, the default site removed) with each generated config dropped, unchanged, into
 * conf.d/. A private mount namespace puts the copy at /etc/nginx, and scratch folders at
 * /var/log/nginx, /var/lib/nginx and /run, so the stock paths work and nothing on the machine is
 * touched. Workers run as www-data, so the site must be readable as in production.
 */
export async function startNginx(siteConfs: string[], port: number | number[]): Promise<RunningNginx> {
  const prefix = await tempDir('ocisite-nginx-')
  const dirs = { etc: path.join(prefix, 'etc'), log: path.join(prefix, 'log'), lib: path.join(prefix, 'lib'), run: path.join(prefix, 'run') }
  await fs.cp('/etc/nginx', dirs.etc, { recursive: true, verbatimSymlinks: true })
  for (const f of await fs.readdir(path.join(dirs.etc, 'sites-enabled'))) await fs.rm(path.join(dirs.etc, 'sites-enabled', f))
  for (const d of [dirs.log, dirs.lib, dirs.run]) await fs.mkdir(d)
  for (const [i, conf] of siteConfs.entries()) await fs.copyFile(conf, path.join(dirs.etc, 'conf.d', `${i}-${path.basename(conf, '.conf')}.conf`))
  const mounts = [
    [dirs.etc, '/etc/nginx'],
    [dirs.log, '/var/log/nginx'],
    [dirs.lib, '/var/lib/nginx'],
    [dirs.run, '/run'],
  ]
  const script = `${mounts.map(([from, to]) => `mount --bind '${from}' '${to}'`).join(' && ')} && exec nginx "$@"`
  const nginx = (args: string[]) => ['--mount', '--propagation', 'private', 'sh', '-c', script, 'nginx', ...args]
  const check = spawnSync('unshare', nginx(['-t']), { encoding: 'utf8' })
  const testOutput = `${check.stdout}${check.stderr}`
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${testOutput}`)
  const child: ChildProcess = spawn('unshare', nginx(['-g', 'daemon off;']), { stdio: ['ignore', 'ignore', 'inherit'] })
  for (const p of [port].flat()) await waitForPort(p)
  return {
    prefix,
    testOutput,
    errorLog: path.join(dirs.log, 'error.log'),
    accessLog: path.join(dirs.log, 'access.log'),
    stop: async () => {
      await stopChild(child, 'SIGQUIT')
      await fs.rm(prefix, { recursive: true, force: true })
    },
  }
}

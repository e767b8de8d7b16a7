import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from './fixtures.js'

const repoNginxConf = fileURLToPath(new URL('../../nginx/nginx.conf', import.meta.url))

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
  stop(): Promise<void>
}

/**
 * Start the real nginx with the repository's nginx/nginx.conf and the generated site configs
 * (as site.conf), in a scratch prefix. `nginx -t` must pass first.
 */
export async function startNginx(siteConfs: string[], port: number): Promise<RunningNginx> {
  const prefix = await tempDir('ocisite-nginx-')
  await fs.chmod(prefix, 0o755)
  for (const d of ['conf', 'logs', 'tmp']) await fs.mkdir(path.join(prefix, d))
  await fs.copyFile(repoNginxConf, path.join(prefix, 'conf', 'nginx.conf'))
  const site = (await Promise.all(siteConfs.map((f) => fs.readFile(f, 'utf8')))).join('\n')
  await fs.writeFile(path.join(prefix, 'conf', 'site.conf'), site)
  const args = ['-p', prefix, '-c', 'conf/nginx.conf', '-e', path.join(prefix, 'logs', 'error.log')]
  const check = spawnSync('nginx', [...args, '-t'], { encoding: 'utf8' })
  const testOutput = `${check.stdout}${check.stderr}`
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${testOutput}`)
  const child: ChildProcess = spawn('nginx', [...args, '-g', 'daemon off;'], { stdio: 'ignore' })
  await waitForPort(port)
  return {
    prefix,
    testOutput,
    stop: async () => {
      await stopChild(child, 'SIGQUIT')
      await fs.rm(prefix, { recursive: true, force: true })
    },
  }
}


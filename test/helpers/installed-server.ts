// `ocisite serve` as installed, running in the background on a free port: its URL, what it has
// printed so far, and a way to stop it.
import { spawn } from 'node:child_process'
import { installedBin, outsideDir } from './installed.js'

export interface InstalledServer {
  url: string
  port: number
  /** Everything printed on stdout so far. */
  stdout(): string
  stop(): Promise<void>
}

/** Start `ocisite serve DIR --port 0 ...extra` and wait for the line that names its URL. */
export async function serveInstalled(dir: string, extra: string[] = []): Promise<InstalledServer> {
  const bin = await installedBin()
  const child = spawn(bin, ['serve', dir, '--port', '0', ...extra], { cwd: await outsideDir(), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ocisite serve printed no URL: ${out}${err}`)), 30_000)
    const check = () => {
      const m = / at (http:\/\/\S+) /.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout.on('data', check)
    void exited.then(() => reject(new Error(`ocisite serve exited: ${out}${err}`)))
  })
  return {
    url,
    port: Number(new URL(url).port),
    stdout: () => out,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
}

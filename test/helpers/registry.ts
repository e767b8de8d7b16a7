import { spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { tempDir } from './fixtures.js'
import { freePort, stopChild, waitForPort } from './nginx.js'

/** Debian's docker-registry (the reference distribution registry) on 127.0.0.1, storing in a temp dir. */
export async function startRegistry(): Promise<{ address: string; stop(): Promise<void> }> {
  const dir = await tempDir('ocisite-registry-')
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  await fs.writeFile(
    config,
    ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
  )
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' })
  await waitForPort(port)
  return {
    address: `127.0.0.1:${port}`,
    stop: async () => {
      await stopChild(child, 'SIGTERM')
      await fs.rm(dir, { recursive: true, force: true })
    },
  }
}

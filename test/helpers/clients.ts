import { execFile, spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { tempDir } from './fixtures.js'
import { stopChild } from './nginx.js'

const run = promisify(execFile)

/** Run a registry client; its stdout. A failure throws with the client's stderr. */
async function client(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`)
  }
}

export const skopeo = (...args: string[]) => client('skopeo', args)

/** The manifest digest skopeo sees for an image reference on a plain-HTTP site. */
export async function skopeoDigest(ref: string): Promise<string> {
  return (JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${ref}`)) as { Digest: string }).Digest
}

/** Podman with its own storage (vfs driver, no daemon), as a user pulls. */
export async function startPodman(): Promise<{ podman(...args: string[]): Promise<string>; stop(): Promise<void> }> {
  const dir = await tempDir('ocisite-podman-')
  const base = ['--storage-driver', 'vfs', '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'none']
  return {
    podman: (...args: string[]) => client('podman', [...base, ...args]),
    stop: () => fs.rm(dir, { recursive: true, force: true }),
  }
}

/** containerd started for one test on a private socket and root, driven with `ctr`. */
export async function startContainerd(): Promise<{ ctr(...args: string[]): Promise<string>; stop(): Promise<void> }> {
  const dir = await tempDir('ocisite-containerd-')
  const socket = path.join(dir, 'containerd.sock')
  await fs.writeFile(
    path.join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/opt"`,
      '',
    ].join('\n'),
  )
  const log = await fs.open(path.join(dir, 'containerd.log'), 'w')
  const child = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', log.fd, log.fd] })
  const ctr = (...args: string[]) => client('ctr', ['--address', socket, ...args])
  const deadline = Date.now() + 20_000
  for (;;) {
    if (await ctr('version').then(() => true, () => false)) break
    if (Date.now() > deadline) throw new Error(`containerd did not start: ${await fs.readFile(path.join(dir, 'containerd.log'), 'utf8')}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    ctr,
    stop: async () => {
      await stopChild(child, 'SIGTERM')
      await log.close()
      await fs.rm(dir, { recursive: true, force: true })
    },
  }
}

/** The target digest containerd recorded for an image it pulled. */
export async function ctrDigest(ctr: (...args: string[]) => Promise<string>, ref: string): Promise<string> {
  const line = (await ctr('images', 'ls')).split('\n').find((l) => l.startsWith(`${ref} `))
  if (!line) throw new Error(`ctr has no image ${ref}`)
  return line.split(/\s+/)[2]!
}

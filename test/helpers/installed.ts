// ocisite as a new user has it: packed with `npm pack`, installed from the tarball into a prefix
// of its own, and run from a directory outside the checkout. Packing compiles src/ (npm's
// prepare), so the install is kept per content of what goes into the package: a second run of
// the suites reuses it, and any change to the code makes a new one.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, promises as fs, readdirSync, readFileSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import lockfile from 'proper-lockfile'
import type { CliRun } from './cli.js'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('../..', import.meta.url))

/** Everything the tarball is made from: a change to any of it is a new package. */
function packageKey(): string {
  const hash = createHash('sha256')
  const walk = (rel: string) => {
    const abs = path.join(repo, rel)
    if (statSync(abs).isDirectory()) for (const e of readdirSync(abs).sort()) walk(path.join(rel, e))
    else hash.update(`${rel}\0`).update(readFileSync(abs)).update('\0')
  }
  for (const rel of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'ocisite.schema.json', 'LICENSE', 'src', 'templates']) if (existsSync(path.join(repo, rel))) walk(rel)
  return hash.digest('hex').slice(0, 16)
}

let install: Promise<string> | undefined

/** The path of the `ocisite` installed from this checkout's `npm pack` tarball. */
export function installedBin(): Promise<string> {
  install ??= (async () => {
    const root = path.join(os.tmpdir(), `ocisite-installed-${packageKey()}`)
    const bin = path.join(root, 'prefix', 'bin', 'ocisite')
    if (existsSync(path.join(root, 'done'))) return bin
    await fs.mkdir(root, { recursive: true })
    // Two suites starting together make one install; the second waits for it.
    const release = await lockfile.lock(root, { retries: { retries: 600, minTimeout: 500, maxTimeout: 500 }, stale: 300_000 })
    try {
      if (existsSync(path.join(root, 'done'))) return bin
      const { stdout } = await run('npm', ['pack', '--pack-destination', root, '--silent'], { cwd: repo, maxBuffer: 16 * 1024 * 1024 })
      const tarball = path.join(root, stdout.trim().split('\n').pop()!)
      await run('npm', ['install', '--global', '--prefix', path.join(root, 'prefix'), '--no-audit', '--no-fund', tarball], { maxBuffer: 16 * 1024 * 1024 })
      await fs.writeFile(path.join(root, 'done'), '')
      return bin
    } finally {
      await release()
    }
  })()
  return install
}

/** A directory outside the checkout to run the installed ocisite from. */
export async function outsideDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocisite-user-'))
  await fs.chmod(dir, 0o755)
  return dir
}

/**
 * Run the installed ocisite as a user would: from `cwd` (by default a fresh directory outside
 * the checkout), with `input` on its standard input.
 */
export async function installed(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliRun> {
  const bin = await installedBin()
  const cwd = options.cwd ?? (await outsideDir())
  return new Promise((resolve) => {
    const child = execFile(bin, args, { cwd, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
    child.stdin?.end(options.input ?? '')
  })
}

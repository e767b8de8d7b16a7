// README's "Trying `deploy` on this machine" recipe works as written: its shell block, taken from
// README.md, runs in bash in an empty directory outside the checkout, with the ocisite installed
// from the npm pack tarball first on PATH, Debian's aws, curl and skopeo. Only the port differs
// (the recipe reads PORT), so that a busy 4568 cannot fail it.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { installedBin, outsideDir } from './helpers/installed.js'
import { freePort } from './helpers/nginx.js'
import { readmePath, readmeTokens, recipeBlocks } from './helpers/readme.js'

const repo = fileURLToPath(new URL('..', import.meta.url))
const WEBSITE = 'example-oci.s3-website-us-east-1.amazonaws.com'

interface Ran { code: number | null; stdout: string; stderr: string }

/** Ends a process group, if it is still there. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGTERM')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

const started: number[] = []
afterAll(() => started.forEach(killGroup))

/**
 * Runs `script` in bash as a process group of its own. When bash exits, the group is ended: the
 * recipe leaves s3rver running in the background, holding bash's output open.
 */
function runRecipe(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    started.push(child.pid!)
    let stdout = ''
    let stderr = ''
    let code: number | null = null
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('exit', (c) => {
      code = c
      killGroup(child.pid!)
    })
    child.on('close', () => resolve({ code, stdout, stderr }))
  })
}

describe('README recipe: trying deploy on this machine, with s3rver', () => {
  it('runs verbatim: s3rver in website mode, a bucket made with aws, deploy, then verify, get and skopeo through the website endpoint', async () => {
    const blocks = recipeBlocks(readmeTokens(), 'try-deploy')
    expect(blocks.length).toBeGreaterThan(0)
    const script = blocks.join('\n')
    // The start command README gives on its own is the one the recipe runs.
    const start = /^ *(npx --yes s3rver .*--port 4568.*)$/m.exec(readFileSync(readmePath, 'utf8'))?.[1]
    expect(start).toBeDefined()
    expect(script).toContain(start!.replace('--port 4568', '--port "$PORT"'))
    for (const part of ['aws s3api create-bucket', 'aws s3api put-bucket-website', 'ocisite deploy', 'ocisite verify', 'skopeo inspect']) expect(script).toContain(part)

    const home = await outsideDir()
    const dir = path.join(home, 'try')
    await fs.mkdir(dir)
    // `npx s3rver` finds the s3rver this checkout has (a devDependency) instead of downloading it.
    await fs.symlink(path.join(repo, 'node_modules'), path.join(home, 'node_modules'))
    const port = await freePort()
    const bin = path.dirname(await installedBin())
    const env = { ...process.env, PATH: `${bin}:/usr/bin:${process.env.PATH}`, PORT: String(port), XDG_CACHE_HOME: path.join(home, 'cache'), HOME: home }
    for (const k of Object.keys(env)) if (k.startsWith('AWS_') || /^(https?|no)_proxy$/i.test(k)) delete env[k as keyof typeof env]

    const r = await runRecipe(script, dir, env)
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)

    // deploy uploaded the site; verify walked it through the website endpoint, /v2/ included.
    expect(r.stdout).toMatch(/^uploaded \d+ objects .*: s3:\/\/example-oci$/m)
    expect(r.stdout).toMatch(new RegExp(`^ok: http://${WEBSITE.replaceAll('.', '\\.')}:${port}: 1 image, 1 tag, .*; /v2/ served$`, 'm'))
    // get brought the file back; skopeo read the manifest from /v2/, naming the file's digest.
    expect(await fs.readFile(path.join(dir, 'fetched', 'hello.txt'), 'utf8')).toBe('hello\n')
    const manifestLine = r.stdout.split('\n').find((l) => l.startsWith('{"schemaVersion":2'))
    expect(manifestLine, r.stdout).toBeDefined()
    const manifest = JSON.parse(manifestLine!) as { layers: Array<{ digest: string }> }
    expect(manifest.layers.map((l) => l.digest)).toEqual([`sha256:${createHash('sha256').update('hello\n').digest('hex')}`])
  })
})

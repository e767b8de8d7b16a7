import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url))
const bin = fileURLToPath(new URL('../../src/bin.ts', import.meta.url))

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/** Run the real ocisite binary (from source, through tsx) as a user would. */
export function ocisite(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(tsx, [bin, ...args], { cwd: options.cwd ?? repo, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** A scratch directory with a one-image layout `good` (tag 1.0) and a site built from it. */
export async function goodSite(): Promise<{ work: string; good: string; site: string }> {
  const { OciLayout } = await import('../../src/content/layout/oci-layout.js')
  const { image, tempDir } = await import('./fixtures.js')
  const work = await tempDir()
  const good = `${work}/good`
  const w = await OciLayout.create(good)
  await w.addToIndex(await image(w, 'amd64', 'good'), '1.0')
  const site = `${work}/site`
  const r = await ocisite(['build', good, '--host', 'example.com', '--out', site])
  if (r.code !== 0) throw new Error(`building the good site failed: ${r.stderr}`)
  return { work, good, site }
}

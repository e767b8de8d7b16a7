import { spawn } from 'node:child_process'
import type { Command } from 'cac'
import { OcisiteError } from '../errors.js'
import type { Flags } from './options.js'

/** deploy's connection flags, for a command that reads or writes `s3://BUCKET[/PREFIX]`. */
export function withBucketConnection(command: Command, where = '--site s3://…'): Command {
  return command
    .option('--endpoint <url>', `For ${where}: an S3-compatible endpoint (MinIO, R2, Ceph); default: AWS`)
    .option('--path-style', `For ${where}: path-style bucket URLs`)
    .option('--region <region>', `For ${where}: the region (default: AWS_REGION or the profile; us-east-1 with --endpoint)`)
}

/** The connection options of the core, from the flags. */
export function bucketConnection(f: Flags): { endpoint?: string; pathStyle?: boolean; region?: string } {
  return { endpoint: f.text('endpoint'), pathStyle: f.on('pathStyle'), region: f.text('region') }
}

/** What add, rm and prune take for a bucket site (`--site s3://BUCKET[/PREFIX]`): deploy's connection flags, how writers share it, and (add, rm) `--on-change`. */
export function withBucketSiteOptions(command: Command, onChange = true): Command {
  const c = withBucketConnection(command)
    .option('--single-writer', 'For --site s3://…: the endpoint ignores If-None-Match and you guarantee one writer at a time (a CI concurrency group)')
    .option('--lease <duration>', "For --site s3://…: how long another writer's committed documents (or probe key) may take before this one finishes them (or deletes it) (default 30s)")
  return onChange ? c.option('--on-change <cmd>', 'For --site s3://…: run CMD (with sh) with the changed mutable keys on its standard input, one per line') : c
}

/** The bucket options of the core, from the flags. */
export function bucketValues(f: Flags): { endpoint?: string; pathStyle?: boolean; region?: string; singleWriter?: boolean; leaseMs?: number } {
  const lease = f.duration('lease')
  return { ...bucketConnection(f), singleWriter: f.on('singleWriter'), ...(lease !== undefined ? { leaseMs: lease } : {}) }
}

/** Run `--on-change CMD` with the keys on its standard input (its output goes to stderr, beside a --json report); a failing command is the user's (exit 2). */
export async function runOnChange(cmd: string | undefined, keys: string[] | undefined): Promise<void> {
  if (!cmd || !keys || keys.length === 0) return
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { stdio: ['pipe', 2, 2] })
    child.on('error', reject)
    child.on('close', resolve)
    child.stdin!.end(keys.map((k) => `${k}\n`).join(''))
  })
  if (code !== 0) throw new OcisiteError('CONFIG_INVALID', `--on-change ${cmd}: exited with ${code}; the site is published, only the command failed`)
}

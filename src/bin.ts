#!/usr/bin/env node
import { runCli } from './cli/run.js'
import { removeLiveTempFilesSync } from './fs/atomic.js'

// http-server's request wrapper (union) reads a deprecated Node field on every request; that
// warning says nothing to an ocisite user. Every other warning is printed as Node would.
process.removeAllListeners('warning')
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0066') process.stderr.write(`${w.name}: ${w.message}\n`)
})

// The AWS SDK (deploy) warns on Node 20 that its releases after January 2027 will need Node 22:
// a note to whoever pins the dependency, not to someone running a deploy.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

// Interrupted: leave no half-written temporary file behind (a lock, if held, goes stale by itself).
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    removeLiveTempFilesSync()
    process.exit(code)
  })
}

// A reader that goes away (`ocisite build --json | head -c 10`) ends the output quietly, as for
// any Unix tool: later writes are dropped, and the exit code is the work's own.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err
    stream.write = (() => true) as typeof stream.write
  })
}

process.exitCode = await runCli(process.argv)

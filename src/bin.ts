#!/usr/bin/env node
import { runCli } from './cli.js'
import { removeLiveTempFilesSync } from './oci/atomic.js'

// http-server's request wrapper (union) reads a deprecated Node field on every request; that
// warning says nothing to an ocisite user. Every other warning is printed as Node would.
process.removeAllListeners('warning')
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0066') process.stderr.write(`${w.name}: ${w.message}\n`)
})

// Interrupted: leave no half-written temporary file behind (a lock, if held, goes stale by itself).
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    removeLiveTempFilesSync()
    process.exit(code)
  })
}

process.exitCode = await runCli(process.argv)

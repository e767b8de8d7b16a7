#!/usr/bin/env node
import { runCli } from './cli.js'

// http-server's request wrapper (union) reads a deprecated Node field on every request; that
// warning says nothing to an ocisite user. Every other warning is printed as Node would.
process.removeAllListeners('warning')
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0066') process.stderr.write(`${w.name}: ${w.message}\n`)
})

process.exitCode = await runCli(process.argv)

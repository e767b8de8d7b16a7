import { readFileSync } from 'node:fs'
import { cac, type CAC } from 'cac'
import { ExitCode, isOcisiteError, OcisiteError } from '../errors.js'
import { redact } from '../client/credentials/redact.js'
import { didYouMean } from '../suggest.js'
import { addCommand } from './add.js'
import { readArgv, type ReadArgv } from './argv.js'
import { buildCommand } from './build.js'
import { deployCommand } from './deploy.js'
import { getCommand } from './get.js'
import { inspectCommand } from './inspect.js'
import { lockCommand } from './lock.js'
import { lsCommand } from './ls.js'
import type { RegisterCommand } from './options.js'
import { ReportedError, type CliIo } from './output.js'
import { packCommand } from './pack.js'
import { pruneCommand } from './prune.js'
import { pullCommand } from './pull.js'
import { resolveCommand } from './resolve.js'
import { rmCommand } from './rm.js'
import { schemaCommand } from './schema.js'
import { serveCommand } from './serve.js'
import { verifyCommand } from './verify.js'

/** Every command, in the order `ocisite --help` lists them. */
const commands: RegisterCommand[] = [buildCommand, addCommand, rmCommand, pruneCommand, verifyCommand, lsCommand, inspectCommand, deployCommand, resolveCommand, pullCommand, packCommand, getCommand, lockCommand, serveCommand, schemaCommand]

/** The installed package's version, from its package.json (one level above dist/, or src/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

/** The CLI with every command registered; nothing parsed or run yet. */
export function createCli(io: CliIo): CAC {
  const cli = cac('ocisite')
  for (const register of commands) register(cli, io)
  // cac gives `--no-x` flags a default of true and prints "(default: true)" beside them, which
  // reads as if the flag were on. Unset is right: the argv reader sets false only when given.
  for (const command of cli.commands) for (const option of command.options) if (option.negated) option.config.default = undefined
  cli.help()
  cli.version(packageVersion())
  return cli
}

/**
 * Parse `args` (after the program name) into the matched command and its arguments and flags,
 * every flag value exactly as typed. Undefined command: help or version was printed, or none matched.
 */
export function parseCommandLine(cli: CAC, args: string[]): ReadArgv & { command: string | undefined } {
  cli.parse(['node', 'ocisite', ...args], { run: false })
  if (!cli.matchedCommand) return { command: undefined, args: cli.args.map(String), options: cli.options }
  const read = readArgv(args, cli.matchedCommand, cli.globalCommand)
  cli.args = read.args
  cli.options = read.options as typeof cli.options
  return { command: cli.matchedCommand.name, ...read }
}

/** The exit code for what a command threw, after saying it on stderr in one line. */
function report(err: unknown, io: CliIo): ExitCode {
  if (err instanceof ReportedError) return err.exitCode
  if (isOcisiteError(err)) {
    io.stderr.write(`ocisite: error[${err.code}]: ${redact(err.message)}\n`)
    return err.exitCode
  }
  if (err instanceof Error && err.name === 'CACError') {
    io.stderr.write(`ocisite: error: ${err.message}\n`)
    return ExitCode.Input
  }
  io.stderr.write(`ocisite: internal error (a bug; please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return ExitCode.Internal
}

/** Run the CLI on `argv` (as process.argv), returning the exit code. Never exits the process. */
export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCode> {
  const cli = createCli(io)
  try {
    const { command, args } = parseCommandLine(cli, argv.slice(2))
    if (command === undefined) {
      if (cli.options.help || cli.options.version) return ExitCode.Ok
      const [typed] = args
      if (typed === undefined) {
        cli.outputHelp()
        return ExitCode.Input
      }
      const guess = didYouMean(typed, cli.commands.map((c) => c.name))
      throw new OcisiteError('CONFIG_INVALID', `unknown command "${typed}"${guess ? `; did you mean ${guess}?` : ' (see ocisite --help)'}`)
    }
    await cli.runMatchedCommand()
    return ExitCode.Ok
  } catch (err) {
    return report(err, io)
  }
}

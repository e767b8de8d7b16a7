import { Flags, type RegisterCommand } from './options.js'

export const schemaCommand: RegisterCommand = (cli, io) => {
  cli
    .command('schema', "Print the JSON schema of ocisite.json (editors complete and check the file's keys with it)")
    .option('--path', 'Print the absolute path of the installed ocisite.schema.json instead')
    .example('ocisite schema > ocisite.schema.json      # then "$schema": "./ocisite.schema.json"')
    .example('ocisite schema --path')
    .action(async (raw: Record<string, unknown>) => {
      const f = new Flags(raw)
      const { configSchemaFile } = await import('../site/config-file.js')
      if (f.on('path')) return void io.stdout.write(`${configSchemaFile}\n`)
      const { readFile } = await import('node:fs/promises')
      io.stdout.write(await readFile(configSchemaFile))
    })
}

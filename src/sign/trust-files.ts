import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { OcisiteError } from '../errors.js'
import { readRegistriesD, type RegistriesD } from './registries-d.js'

// The files a signature check reads besides the policy: registries.d, found as containers/image
// finds it. Shared by the consumer (pull, get, lock, resolve) and `verify --policy`.

/** The containers default directory of registries.d files. */
export const SYSTEM_REGISTRIES_D = '/etc/containers/registries.d'

/**
 * The registries.d configuration: `dir` (`--registries-d`, which must be a directory), else
 * `$CONTAINERS_REGISTRIES_D`, else ~/.config/containers/registries.d when it exists, else the
 * system's, as containers/image reads it.
 */
export async function loadRegistriesD(dir: string | undefined, env: NodeJS.ProcessEnv): Promise<RegistriesD> {
  if (dir === undefined) {
    const user = path.join(env.HOME || os.homedir(), '.config', 'containers', 'registries.d')
    return readRegistriesD(env.CONTAINERS_REGISTRIES_D || (await existingFile(user)) || SYSTEM_REGISTRIES_D)
  }
  const st = await fs.stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (!st?.isDirectory()) throw new OcisiteError('POLICY_INVALID', `--registries-d ${dir}: not a directory`, { file: dir })
  return readRegistriesD(dir)
}

/** The file, if it exists (a default that is not there means "none"). */
export async function existingFile(file: string): Promise<string | undefined> {
  try {
    await fs.access(file)
    return file
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

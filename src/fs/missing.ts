// "Missing" means one thing: the file system said there is nothing at that path. Every other
// failure (EACCES, EIO, ELOOP, EISDIR, …) is a real error and propagates with its path.

/** ENOENT, or ENOTDIR (a parent of the path is a file): there is nothing at that path. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** The promise's value, or undefined when what it reads is missing; any other error propagates. */
export async function unlessMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
}

/** The same for a synchronous read. */
export function unlessMissingSync<T>(read: () => T): T | undefined {
  try {
    return read()
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
}

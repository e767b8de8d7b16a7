import { promises as fs } from 'node:fs'
import path from 'node:path'

/** The lines of an `strace -ff -o PREFIX` run: one file per thread, so a call and its result are on one line. */
export async function traceLines(prefix: string): Promise<string[]> {
  const dir = path.dirname(prefix)
  const files = (await fs.readdir(dir)).filter((f) => f.startsWith(`${path.basename(prefix)}.`))
  return (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')))).flatMap((t) => t.split('\n'))
}

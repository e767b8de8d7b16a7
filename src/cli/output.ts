import type { BuildEvent } from '../site/progress.js'

/** Where the CLI writes: injectable so tests can run it in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/**
 * Turn build events into a progress line on a terminal (redrawn at most every 100 ms), and
 * warnings into lines everywhere.
 */
export function buildProgress(io: CliIo): { listener: (e: BuildEvent) => void; finish(): void } {
  const tty = !!io.stderr.isTTY
  let last = 0
  let drawn = false
  const draw = (text: string, force = false) => {
    if (!tty) return
    const now = Date.now()
    if (!force && now - last < 100) return
    last = now
    io.stderr.write(`\r\x1b[2K${text}`)
    drawn = true
  }
  const clear = () => {
    if (drawn) io.stderr.write('\r\x1b[2K')
    drawn = false
  }
  return {
    listener: (e) => {
      switch (e.type) {
        case 'warning':
          clear()
          io.stderr.write(`ocisite: warning: ${e.message}\n`)
          break
        case 'input':
          draw(`reading ${e.label} → ${e.imagePath}`)
          break
        case 'plan':
          draw(`publishing ${e.tags} tags of ${e.images} images: ${e.blobs} blobs, ${formatBytes(e.bytes)}`, true)
          break
        case 'blob':
          draw(`blobs ${e.done}/${e.total}  ${formatBytes(e.bytesDone)} / ${formatBytes(e.bytesTotal)}  ${e.digest.slice(0, 19)} ${e.action}`, e.done === e.total)
          break
        default:
          break
      }
    },
    finish: clear,
  }
}

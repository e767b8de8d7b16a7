import type { ClientEvent } from '../client/events.js'
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
        case 'waiting':
          clear()
          io.stderr.write(`ocisite: ${e.message}\n`)
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

/** Client events: discovery attempts with --verbose, and a bytes-and-rate progress line on a terminal. */
export function clientReporter(io: CliIo, verbose: boolean): { listener: (e: ClientEvent) => void; finish(): void } {
  const tty = !!io.stderr.isTTY
  const started = Date.now()
  let bytes = 0
  let last = 0
  let drawn = false
  let total = { blobs: 0, bytes: 0, done: 0 }
  const clear = () => {
    if (drawn) io.stderr.write('\r\x1b[2K')
    drawn = false
  }
  const draw = (force = false) => {
    if (!tty) return
    const now = Date.now()
    if (!force && now - last < 100) return
    last = now
    const rate = bytes / Math.max(0.001, (now - started) / 1000)
    io.stderr.write(`\r\x1b[2Kblobs ${total.done}/${total.blobs}  ${formatBytes(bytes)} of ${formatBytes(total.bytes)}  ${formatBytes(rate)}/s`)
    drawn = true
  }
  return {
    listener: (e) => {
      if (e.type === 'attempt' && verbose) {
        clear()
        io.stderr.write(e.ok ? `ocisite: GET ${e.url}: ok\n` : `ocisite: GET ${e.url}: failed: ${e.error ?? ''}\n`)
      } else if (e.type === 'source' && verbose) {
        clear()
        io.stderr.write(`ocisite: ref engines from ${e.uri} (${e.origin})\n`)
      } else if (e.type === 'warning') {
        clear()
        io.stderr.write(`ocisite: warning: ${e.message}\n`)
      } else if (e.type === 'plan') {
        total = { blobs: e.blobs, bytes: e.bytes, done: 0 }
        draw(true)
      } else if (e.type === 'blob-bytes') {
        bytes += e.bytes
        draw()
      } else if (e.type === 'blob') {
        total.done = e.done
        draw(e.done === e.total)
      }
    },
    finish: clear,
  }
}

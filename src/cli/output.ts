import type { ClientEvent } from '../client/events.js'
import { redact } from '../client/credentials/redact.js'
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

/** What a write (build, add) publishes: a line per image with its tags and referrers, and one per waiting referrer. */
export function publishedLines(result: {
  host: string
  images: Array<{ path: string; tags: Array<{ tag: string }>; referrers?: unknown[] }>
  pending?: Array<{ subject: string; digest: string }>
}): string {
  const lines = result.images.map((i) => `${result.host}/${i.path}: ${i.tags.map((t) => t.tag).join(', ')}${i.referrers ? ` (${plural(i.referrers.length, 'referrer')})` : ''}\n`)
  for (const p of result.pending ?? []) lines.push(`waiting: ${p.digest}, a referrer of ${p.subject} (not published yet)\n`)
  return lines.join('')
}

/** `1 tag`, `2 tags`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const s = Math.max(0, Math.round(seconds))
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/**
 * One progress line for blobs moving (build and pull alike): blobs done of total, bytes as they
 * stream, rate and ETA. Drawn on a terminal only, at most every 50 ms; nothing when piped.
 */
function transferLine(io: CliIo) {
  const tty = !!io.stderr.isTTY
  let last = 0
  let drawn = false
  const state = { done: 0, total: 0, bytes: 0, totalBytes: 0, started: Date.now(), startBytes: 0 }
  const clear = () => {
    if (drawn) io.stderr.write('\r\x1b[2K')
    drawn = false
  }
  const draw = (force = false) => {
    if (!tty) return
    const now = Date.now()
    if (!force && now - last < 50) return
    last = now
    const rate = (state.bytes - state.startBytes) / Math.max(0.001, (now - state.started) / 1000)
    const eta = rate > 0 ? (state.totalBytes - state.bytes) / rate : Infinity
    io.stderr.write(`\r\x1b[2Kblobs ${state.done}/${state.total}  ${formatBytes(state.bytes)} / ${formatBytes(state.totalBytes)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`)
    drawn = true
  }
  return {
    clear,
    /** Start: what there is to move, and what is already done. */
    plan(total: number, totalBytes: number, done = 0, bytes = 0) {
      Object.assign(state, { total, totalBytes, done, bytes, startBytes: bytes, started: Date.now() })
      draw(true)
    },
    /** Bytes streamed into a blob. */
    bytes(n: number) {
      state.bytes += n
      draw()
    },
    /** A blob finished; `bytesDone` is authoritative (skipped blobs count without streaming). */
    blob(done: number, bytesDone: number) {
      state.done = done
      state.bytes = Math.max(state.bytes, bytesDone)
      draw(done === state.total)
    },
    text(line: string) {
      if (!tty) return
      io.stderr.write(`\r\x1b[2K${line}`)
      drawn = true
    },
  }
}

/** Turn build events into a progress line on a terminal, and warnings into lines everywhere. */
export function buildProgress(io: CliIo): { listener: (e: BuildEvent) => void; finish(): void } {
  const line = transferLine(io)
  return {
    listener: (e) => {
      switch (e.type) {
        case 'warning':
          line.clear()
          io.stderr.write(`ocisite: warning: ${redact(e.message)}\n`)
          break
        case 'waiting':
          line.clear()
          io.stderr.write(`ocisite: ${e.message}\n`)
          break
        case 'input':
          line.text(`reading ${e.label} → ${e.imagePath}`)
          break
        case 'publishing':
          line.text(`publishing ${plural(e.tags, 'tag')} of ${plural(e.images, 'image')}`)
          break
        case 'plan':
          line.plan(e.blobs, e.bytes, e.done, e.bytesDone)
          break
        case 'bytes':
          line.bytes(e.bytes)
          break
        case 'blob':
          line.blob(e.done, e.bytesDone)
          break
        default:
          break
      }
    },
    finish: line.clear,
  }
}

/** Client events: discovery attempts with --verbose, and the same progress line as build. */
export function clientReporter(io: CliIo, verbose: boolean): { listener: (e: ClientEvent) => void; finish(): void } {
  const line = transferLine(io)
  return {
    listener: (e) => {
      if (e.type === 'attempt' && verbose) {
        line.clear()
        io.stderr.write(redact(e.ok ? `ocisite: GET ${e.url}: ok\n` : `ocisite: GET ${e.url}: failed: ${e.error ?? ''}\n`))
      } else if (e.type === 'source' && verbose) {
        line.clear()
        io.stderr.write(`ocisite: ref engines from ${e.uri} (${e.origin})\n`)
      } else if (e.type === 'verified' && verbose) {
        line.clear()
        const by = e.signatures.length ? `signed by ${e.signatures.join(', ')}` : 'no signature required'
        io.stderr.write(`ocisite: ${e.name}: ${e.digest}: accepted by ${e.policy} [${e.scope}]: ${by}\n`)
      } else if (e.type === 'warning') {
        line.clear()
        io.stderr.write(`ocisite: warning: ${e.message}\n`)
      } else if (e.type === 'plan') line.plan(e.blobs, e.bytes, e.done, e.bytesDone)
      else if (e.type === 'bytes') line.bytes(e.bytes)
      else if (e.type === 'blob') line.blob(e.done, e.bytesDone)
    },
    finish: line.clear,
  }
}

/** Thrown by a command that already reported its errors, to set the exit code. */
export class ReportedError extends Error {
  constructor(readonly exitCode: number) {
    super('reported')
  }
}

/** JSON on stdout, as every `--json` prints it. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

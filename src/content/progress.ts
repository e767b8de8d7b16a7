import type { Descriptor } from '../oci/descriptor.js'
import type { CopyGraphOptions } from './copy.js'

/**
 * Progress of a copy: the one progress line that build, add, pull, get and deploy all draw. The
 * core emits these; the CLI renders them.
 */
export type CopyEvent =
  /** What the copy moves: `blobs` of `bytes` in all, of which `done` (`bytesDone`) are in place already. */
  | { type: 'plan'; blobs: number; bytes: number; done: number; bytesDone: number }
  /** One blob is in place: copied now, or found there already. */
  | { type: 'blob'; digest: string; size: number; action: 'copied' | 'skipped'; done: number; total: number; bytesDone: number; bytesTotal: number }
  /** Bytes streamed into the destination. */
  | { type: 'bytes'; bytes: number }

/** What a copy did, as its summary reports it. */
export interface CopyCounts {
  copied: number
  skipped: number
  bytesCopied: number
}

/**
 * Counts a copy of `blobs` blobs (`bytes` in all) and reports it as CopyEvents: feed its hooks
 * to one copyGraph, or to several (one per image), each blob counted once however many images
 * share it.
 */
export class CopyProgress {
  readonly counts: CopyCounts = { copied: 0, skipped: 0, bytesCopied: 0 }
  private readonly done = new Set<string>()
  private bytesDone = 0
  constructor(
    private readonly total: number,
    private readonly bytesTotal: number,
    private readonly emit: ((event: CopyEvent) => void) | undefined,
  ) {
    emit?.({ type: 'plan', blobs: total, bytes: bytesTotal, done: 0, bytesDone: 0 })
  }

  /** The hooks of a copyGraph that this counts. */
  get hooks(): Pick<CopyGraphOptions, 'onCopied' | 'onSkipped' | 'onBytes'> {
    return {
      onCopied: (desc) => this.finished(desc, 'copied'),
      onSkipped: (desc) => this.finished(desc, 'skipped'),
      onBytes: (bytes) => this.emit?.({ type: 'bytes', bytes }),
    }
  }

  finished(desc: Descriptor, action: 'copied' | 'skipped'): void {
    if (this.done.has(desc.digest)) return
    this.done.add(desc.digest)
    if (action === 'copied') {
      this.counts.copied++
      this.counts.bytesCopied += desc.size
    } else this.counts.skipped++
    this.bytesDone += desc.size
    this.emit?.({ type: 'blob', digest: desc.digest, size: desc.size, action, done: this.done.size, total: this.total, bytesDone: this.bytesDone, bytesTotal: this.bytesTotal })
  }
}

import type { CopyEvent } from '../content/progress.js'

/** Progress events from a build (and add, rm, prune, deploy); the CLI renders them, the core only emits them. */
export type BuildEvent =
  | { type: 'input'; label: string; imagePath: string }
  /** What a write publishes: before its blobs are copied. */
  | { type: 'publishing'; images: number; tags: number }
  /** The blobs moving: the one progress line. */
  | CopyEvent
  | { type: 'documents'; written: number; unchanged: number }
  | { type: 'pruned'; files: number }
  | { type: 'warning'; message: string }
  | { type: 'waiting'; message: string }

export type ProgressListener = (event: BuildEvent) => void

/** Progress events from a build; the CLI renders them, the core only emits them. */
export type BuildEvent =
  | { type: 'input'; label: string; imagePath: string }
  | { type: 'plan'; images: number; tags: number; blobs: number; bytes: number }
  | { type: 'blob'; digest: string; size: number; action: 'written' | 'skipped'; done: number; total: number; bytesDone: number; bytesTotal: number }
  | { type: 'blob-bytes'; bytes: number }
  | { type: 'documents'; written: number; unchanged: number }
  | { type: 'pruned'; files: number }
  | { type: 'warning'; message: string }
  | { type: 'waiting'; message: string }

export type ProgressListener = (event: BuildEvent) => void

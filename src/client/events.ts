/** What the client reports while it works; the CLI prints these with --verbose or as progress. */
export type ClientEvent =
  | { type: 'attempt'; url: string; ok: boolean; error?: string }
  | { type: 'source'; uri: string; origin: 'xdg' | 'well-known' }
  /** Everything the pull moves (manifests included); `done`/`bytesDone`: what is already fetched (the documents). */
  | { type: 'plan'; blobs: number; bytes: number; done: number; bytesDone: number }
  | { type: 'blob'; digest: string; size: number; action: 'fetched' | 'cached'; done: number; total: number; bytesDone: number; bytesTotal: number }
  | { type: 'blob-bytes'; bytes: number }
  | { type: 'warning'; message: string }
  /** A signature policy accepted a digest: the policy file, the scope that applied, each signature accepted (key and source). */
  | { type: 'verified'; name: string; digest: string; policy: string; scope: string; signatures: string[] }

export type ClientListener = (event: ClientEvent) => void

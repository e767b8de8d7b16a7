import type { CopyEvent } from '../content/progress.js'

/** What the client reports while it works; the CLI prints these with --verbose or as progress. */
export type ClientEvent =
  | { type: 'attempt'; url: string; ok: boolean; error?: string }
  | { type: 'source'; uri: string; origin: 'xdg' | 'well-known' }
  | { type: 'warning'; message: string }
  /** A signature policy accepted a digest: the policy file, the scope that applied, each signature accepted (key and source). */
  | { type: 'verified'; name: string; digest: string; policy: string; scope: string; signatures: string[] }
  /** The blobs a pull moves (manifests included). */
  | CopyEvent

export type ClientListener = (event: ClientEvent) => void

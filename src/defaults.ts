/** The one source of defaults: option normalisation and the CLI help both read these. */
export const buildDefaults = {
  out: 'public',
  config: 'ocisite.json',
  /** Both address families, as Debian's own default site listens. */
  listen: ['80', '[::]:80'],
  tlsListen: ['443', '[::]:443'],
  v2: true,
  headersFile: false,
  /** HTML pages: the home page and a page per image. */
  html: true,
  /** Uncompressed bytes an input archive may hold: past it, the build stops (a decompression bomb). */
  maxArchiveSize: 8 * 1024 ** 3,
} as const

export const serveDefaults = { dir: 'public', port: 8080, host: '127.0.0.1' } as const

export const pullDefaults = { concurrency: 4 } as const
export const lockDefaults = { out: 'ocisite.lock' } as const

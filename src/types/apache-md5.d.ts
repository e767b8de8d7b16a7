// apache-md5 ships this declaration without pointing package.json at it.
declare module 'apache-md5' {
  /** The apr1 (or $1$) hash of a password; with `salt` (a whole hash), the hash to compare with it. */
  export default function aprMd5(password: string, salt?: string): string
}

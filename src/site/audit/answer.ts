// What the audit transports (transport.ts, bucket-transport.ts) give: one request's answer.

/** One answer, however it was obtained. */
export interface Answer {
  status: number
  headers: Record<string, string>
  /** The body whole (documents), capped. */
  bytes(limit: number): Promise<Buffer>
  /** The body's size and digest, streamed. */
  hash(algorithm: 'sha256' | 'sha512'): Promise<{ size: number; hex: string }>
  discard(): void
}

/** How requests reach the site: over HTTP, straight from a directory through the route table, or from a bucket by key. */
export interface Transport {
  /** The well-known document's URL; every other URL is resolved against it. */
  wellKnown: string
  display(url: string): string
  request(url: string, method: 'GET' | 'HEAD', accept?: string): Promise<Answer>
}

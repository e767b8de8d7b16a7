declare module 'http-server' {
  import type { IncomingMessage, Server, ServerResponse } from 'node:http'
  type Middleware = (req: IncomingMessage, res: ServerResponse & { emit(event: 'next'): boolean }) => void
  interface Options {
    root?: string
    cache?: number | string | ((pathname: string) => string)
    showDir?: boolean | string
    autoIndex?: boolean | string
    showDotfiles?: boolean
    gzip?: boolean
    brotli?: boolean
    cors?: boolean
    before?: Middleware[]
    headers?: Record<string, string>
    contentType?: string
    logFn?: (req: IncomingMessage, res: ServerResponse, err?: unknown) => void
  }
  interface HttpServer {
    server: Server
    listen(port: number, host: string, callback?: () => void): void
    close(callback?: () => void): void
  }
  export function createServer(options?: Options): HttpServer
  const _default: { createServer: typeof createServer }
  export default _default
}

import { OcisiteError } from '../../errors.js'

/** One nginx `listen` address, checked: what to write after `listen`, and its port. */
export interface ListenAddress {
  address: string
  port: number
}

const forms: RegExp[] = [
  /^(?<port>\d+)$/, // 80
  /^(?:\*|[0-9.]+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*):(?<port>\d+)$/, // 127.0.0.1:8080, *:80, localhost:80
  /^\[[0-9A-Fa-f:.]+\]:(?<port>\d+)$/, // [::]:80, [::1]:8443
]

/** Parse `--listen` / `nginx.listen` values: PORT, ADDRESS:PORT or [IPv6]:PORT. */
export function parseListen(values: ReadonlyArray<string | number>, flag: string): ListenAddress[] {
  return values.map((raw) => {
    const text = String(raw).trim()
    const port = forms.map((f) => f.exec(text)?.groups?.port).find((p) => p !== undefined)
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      throw new OcisiteError('CONFIG_INVALID', `${flag} "${text}": use PORT, ADDRESS:PORT or [IPv6]:PORT (for example 8080, 127.0.0.1:8080, [::]:8080)`)
    }
    return { address: text, port: Number(port) }
  })
}

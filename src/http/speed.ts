/** The slowest transfer accepted, as curl's --speed-limit / --speed-time. */
export interface MinSpeed {
  bytesPerSecond: number
  seconds: number
}

/** The default minimum speed: 1 KiB/s over 30 s turns a trickling server into a failure, not a hang. */
export const defaultMinSpeed: MinSpeed = { bytesPerSecond: 1024, seconds: 30 }

/**
 * The slowest transfer accepted: `tooSlow` is called once fewer than `bytesPerSecond` on average
 * arrived over a whole `seconds`-long window.
 */
export function watchSpeed(minSpeed: MinSpeed, tooSlow: (reason: string) => void): { add(n: number): void; stop(): void } {
  const windowMs = minSpeed.seconds * 1000
  let windowStart = Date.now()
  let windowBytes = 0
  const timer = setInterval(() => {
    if (Date.now() - windowStart < windowMs) return
    if (windowBytes < minSpeed.bytesPerSecond * minSpeed.seconds) tooSlow(`transfer slower than ${minSpeed.bytesPerSecond} bytes/s for ${minSpeed.seconds} s`)
    windowStart = Date.now()
    windowBytes = 0
  }, Math.min(1000, windowMs))
  timer.unref()
  return {
    add: (n) => {
      windowBytes += n
    },
    stop: () => clearInterval(timer),
  }
}

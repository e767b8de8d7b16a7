/**
 * Run `fn` over `items` with at most `limit` at once; results keep the items' order. After the
 * first failure no new item starts; the first error is thrown once those in flight settle.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failed: { error: unknown } | undefined
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i]!, i)
      } catch (error) {
        failed ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (failed) throw failed.error
  return results
}

/** A gate that lets at most `limit` calls run at once; the rest wait their turn, in order. */
export function limiter(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let running = 0
  // A queue read from `head`: shifting an array of a quarter-million waiting calls moves every
  // element each time.
  let waiting: Array<() => void> = []
  let head = 0
  const next = (): (() => void) | undefined => {
    const r = waiting[head]
    if (r === undefined) return undefined
    waiting[head++] = undefined as never
    if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head)
      head = 0
    }
    return r
  }
  const release = () => {
    const wake = next()
    if (wake) wake()
    else running--
  }
  // No async function here: a copy of a large site passes every blob through this, and each
  // async wrapper is another promise to make and collect.
  const run = <R>(fn: () => Promise<R>): Promise<R> => {
    let p: Promise<R>
    try {
      p = fn()
    } catch (err) {
      p = Promise.reject(err)
    }
    return p.then(
      (value) => {
        release()
        return value
      },
      (err: unknown) => {
        release()
        throw err
      },
    )
  }
  return <R>(fn: () => Promise<R>): Promise<R> => {
    if (running < limit) {
      running++
      return run(fn)
    }
    return new Promise<void>((r) => waiting.push(r)).then(() => run(fn))
  }
}

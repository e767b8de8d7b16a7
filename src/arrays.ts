// A spread into a call (`a.push(...b)`, `Math.max(...b)`) passes every element as an argument
// on the stack: past about 120,000 elements it throws "Maximum call stack size exceeded". A
// site's blobs, files and problems can number in the hundreds of thousands, so lists of them go
// through these loops instead.

/** Append every item of `items` to `target` (as `target.push(...items)`, at any length). */
export function pushAll<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item)
  return target
}

/** The largest of `values`, or `empty` when there are none (as `Math.max(empty, ...values)`, at any length). */
export function maxOf(values: Iterable<number>, empty = -Infinity): number {
  let max = empty
  for (const v of values) if (v > max) max = v
  return max
}

/** What tags are ordered by: the name, and when the image was made (RFC 3339), when known. */
export interface Datable {
  tag: string
  created?: string
}

/** Milliseconds since the epoch of an RFC 3339 time, or undefined when it does not parse. */
export function timeOf(created: string | undefined): number | undefined {
  if (created === undefined) return undefined
  // Go writes nanoseconds; Date takes milliseconds.
  const t = Date.parse(created.replace(/(\.\d{3})\d+/, '$1'))
  return Number.isNaN(t) ? undefined : t
}

/** `v1.2.3-rc.1` → its numbers and pre-release, or undefined when the tag is not a version. */
function versionOf(tag: string): { numbers: number[]; pre?: string } | undefined {
  const m = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(tag)
  if (!m) return undefined
  return { numbers: m[1]!.split('.').map(Number), ...(m[2] !== undefined ? { pre: m[2] } : {}) }
}

/** Compare chunk by chunk, runs of digits as numbers (`1.10` after `1.9`). */
function naturalCompare(a: string, b: string): number {
  const ca = a.match(/\d+|\D+/g) ?? []
  const cb = b.match(/\d+|\D+/g) ?? []
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const x = ca[i]!
    const y = cb[i]!
    const nx = /^\d/.test(x) && /^\d/.test(y)
    const d = nx ? Number(x) - Number(y) || x.length - y.length : x < y ? -1 : x > y ? 1 : 0
    if (d !== 0) return d
  }
  return ca.length - cb.length
}

function versionCompare(a: NonNullable<ReturnType<typeof versionOf>>, b: NonNullable<ReturnType<typeof versionOf>>): number {
  for (let i = 0; i < Math.max(a.numbers.length, b.numbers.length); i++) {
    const d = (a.numbers[i] ?? 0) - (b.numbers[i] ?? 0)
    if (d !== 0) return d
  }
  // A release comes after its pre-releases.
  if (a.pre === undefined || b.pre === undefined) return a.pre === b.pre ? 0 : a.pre === undefined ? 1 : -1
  return naturalCompare(a.pre, b.pre)
}

/**
 * Newest first: by `created`; among tags with the same (or no) date, versions by semantic
 * version, then other names in natural order, both highest first; a tag with a date comes
 * before one without. The name breaks every remaining tie, so the order is total.
 */
export function compareNewestFirst(a: Datable, b: Datable): number {
  const ta = timeOf(a.created)
  const tb = timeOf(b.created)
  if (ta !== undefined && tb !== undefined && ta !== tb) return tb - ta
  if ((ta === undefined) !== (tb === undefined)) return ta === undefined ? 1 : -1
  const va = versionOf(a.tag)
  const vb = versionOf(b.tag)
  if (va && vb) {
    const d = versionCompare(vb, va)
    if (d !== 0) return d
  } else if (va || vb) return va ? -1 : 1
  return naturalCompare(b.tag, a.tag) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)
}

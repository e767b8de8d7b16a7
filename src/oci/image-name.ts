import { isIPv4, isIPv6 } from 'node:net'
import { OcisiteError } from '../errors.js'

/** A host-based image name: `host "/" path-rootless [ "#" fragment ]`. */
export interface ImageName {
  name: string
  host: string
  path: string
  /** The tag; empty when absent, which selects every entry. */
  fragment: string
  hostKind: 'reg-name' | 'ipv4' | 'ipv6'
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
// RFC 3986 pchar: unreserved / pct-encoded / sub-delims / ":" / "@"
const PCHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$/
const FRAGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/

/** Classify a host, or throw naming what is wrong with it. `portHint` says what to do about a port. */
export function parseHost(host: string, where = host, portHint = 'use --port'): ImageName['hostKind'] {
  if (host.startsWith('[')) {
    if (!host.endsWith(']') || !isIPv6(host.slice(1, -1))) throw new OcisiteError('NAME_INVALID', `${where}: host "${host}" is not a valid bracketed IPv6 literal`)
    return 'ipv6'
  }
  if (isIPv4(host)) return 'ipv4'
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(host)
  if (scheme) {
    const bare = host.slice(scheme[0].length).replace(/\/.*$/, '')
    throw new OcisiteError('NAME_INVALID', `${where}: host "${host}" has a scheme; drop it: ${where.startsWith('--') ? `${where} ` : ''}${bare}`)
  }
  if (host === '') throw new OcisiteError('NAME_INVALID', `${where}: the host is empty`)
  if (/:\d*$/.test(host)) throw new OcisiteError('NAME_INVALID', `${where}: host "${host}" has a port; host-based names have none (${portHint})`)
  const labels = host.split('.')
  const bad = labels.find((l) => !LABEL.test(l))
  if (bad !== undefined) throw new OcisiteError('NAME_INVALID', `${where}: host "${host}" has an invalid label "${bad}"`)
  // As in URLs: a name whose last label is all digits is an (invalid) IPv4 address, not a DNS name.
  if (/^\d+$/.test(labels[labels.length - 1]!)) throw new OcisiteError('NAME_INVALID', `${where}: host "${host}" is neither a DNS name nor an IP address`)
  return 'reg-name'
}

/**
 * A docker-style `path:tag` where a host-based name wants `path#tag`: the two parts, for a
 * "did you mean" hint; undefined when the text is not one.
 */
export function dockerStyleTag(path: string): { path: string; tag: string } | undefined {
  const m = /^(.*[^/]):([A-Za-z0-9_][A-Za-z0-9._-]*)$/.exec(path)
  return m ? { path: m[1]!, tag: m[2]! } : undefined
}

/** Parse a host-based image name such as `example.com/org/app#1.0`. */
export function parseImageName(name: string): ImageName {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(name)
  if (scheme) {
    throw new OcisiteError('NAME_INVALID', `${name}: names have no scheme; write ${name.slice(scheme[0].length)} (and pass --protocol ${scheme[1]!.toLowerCase()} to reach the site over ${scheme[1]!.toLowerCase()})`, { name })
  }
  const hash = name.indexOf('#')
  const beforeFragment = hash === -1 ? name : name.slice(0, hash)
  const fragment = hash === -1 ? '' : name.slice(hash + 1)
  const slash = beforeFragment.startsWith('[') ? beforeFragment.indexOf('/', beforeFragment.indexOf(']')) : beforeFragment.indexOf('/')
  if (slash === -1) throw new OcisiteError('NAME_INVALID', `${name}: no path; a name is host/path[#tag], e.g. example.com/app#1.0`, { name })
  const host = beforeFragment.slice(0, slash)
  const path = beforeFragment.slice(slash + 1)
  const hostKind = parseHost(host, name)
  const segments = path.split('/')
  if (segments[0] === '') throw new OcisiteError('NAME_INVALID', `${name}: the path is empty or starts with "/"`, { name })
  const badSegment = segments.find((s) => !PCHARS.test(s))
  if (badSegment !== undefined) throw new OcisiteError('NAME_INVALID', `${name}: path segment "${badSegment}" has characters not allowed in a URI path`, { name })
  if (!FRAGMENT.test(fragment)) throw new OcisiteError('NAME_INVALID', `${name}: fragment "${fragment}" has characters not allowed in a URI fragment`, { name })
  return { name, host: hostKind === 'reg-name' ? host.toLowerCase() : host, path, fragment, hostKind }
}

import { OcisiteError } from '../errors.js'
import type { Platform } from './descriptor.js'

/** A platform wanted by the user: `os/arch[/variant]`. */
export interface PlatformSpec {
  os: string
  architecture: string
  variant?: string
}

export function parsePlatform(text: string): PlatformSpec {
  const [os, architecture, variant, ...rest] = text.split('/')
  if (!os || !architecture || rest.length > 0 || variant === '') {
    throw new OcisiteError('CONFIG_INVALID', `--platform "${text}" is not OS/ARCH[/VARIANT] (e.g. linux/arm64/v8)`)
  }
  return { os, architecture, ...(variant ? { variant } : {}) }
}

export function formatPlatform(p: Platform | PlatformSpec | undefined): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : ''
}

export function platformMatches(want: PlatformSpec, have: Platform | undefined): boolean {
  if (!have || have.os !== want.os || have.architecture !== want.architecture) return false
  return want.variant === undefined || have.variant === want.variant
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): PlatformSpec {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch }
}

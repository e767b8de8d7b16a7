// Debian's chromium, driven by playwright-core (no browser download): a fresh profile each
// launch, no network of its own (no updates, no sync, no QUIC), and axe-core run inside pages.
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import axe from 'axe-core'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

const repo = fileURLToPath(new URL('../..', import.meta.url))
// axe-core's own bundle, as a string to evaluate inside the page.
const axeSource = axe.source

/** Where screenshots go: $OCISITE_TEST_ARTIFACTS, else test-artifacts/ (git-ignored). */
export async function artifactDir(sub: string): Promise<string> {
  const dir = path.join(process.env.OCISITE_TEST_ARTIFACTS ?? path.join(repo, 'test-artifacts'), sub)
  await mkdir(dir, { recursive: true })
  return dir
}

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

/** Launch /usr/bin/chromium headless with a fresh --user-data-dir. */
export async function launchChromium(options: { javaScriptEnabled?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'ocisite-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    javaScriptEnabled: options.javaScriptEnabled ?? true,
  })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** What a page did: console errors, page errors, and every URL it requested. */
export function watch(page: Page): { errors: string[]; requests: string[] } {
  const seen = { errors: [] as string[], requests: [] as string[] }
  page.on('console', (m) => {
    if (m.type() === 'error') seen.errors.push(m.text())
  })
  page.on('pageerror', (e) => seen.errors.push(String(e)))
  page.on('request', (r) => seen.requests.push(r.url()))
  return seen
}

/** axe-core's serious and critical violations on the page as it stands (evaluated over CDP, so the page's CSP stays on). */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource)
  return page.evaluate(async () => {
    // Runs in the page: its globals are the browser's.
    const page = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }
    const { violations } = await page.axe.run(page.document)
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  })
}

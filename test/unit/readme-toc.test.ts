// README's table of contents stays true: it lists exactly the `##` and `###` headings, in order,
// nested by level, each linked by the anchor GitHub gives it. Headings are read from the file.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { headings, readmePath, readmeTokens, tableOfContents, tocMarkdown } from '../helpers/readme.js'

/** What the table of contents of this README text should be, and what it is. */
function toc(text: string) {
  const tokens = readmeTokens(text)
  const wanted = headings(tokens).filter((h) => h.depth === 2 || h.depth === 3)
  return {
    wanted,
    expected: wanted.map((h) => ({ depth: h.depth, text: h.text, href: `#${h.anchor}` })),
    actual: tableOfContents(tokens),
  }
}

describe('README table of contents', () => {
  const readme = readFileSync(readmePath, 'utf8')

  it("lists every ## and ### heading of README.md, in order, nested by level, with GitHub's anchors", () => {
    const { wanted, expected, actual } = toc(readme)
    expect(wanted.length).toBeGreaterThan(20)
    expect(actual, `README.md's table of contents (after <!-- toc -->) should read:\n${tocMarkdown(wanted)}\n`).toEqual(expected)
  })

  it.each([
    ['Pulling with skopeo, docker and containerd (`/v2/`)', 'pulling-with-skopeo-docker-and-containerd-v2'],
    ['`ocisite add`, `ocisite rm`, `ocisite prune`: publishing into a live site', 'ocisite-add-ocisite-rm-ocisite-prune-publishing-into-a-live-site'],
    ['S3 and a CDN: `ocisite deploy`', 's3-and-a-cdn-ocisite-deploy'],
    ['Publishing from CI (GitHub Actions)', 'publishing-from-ci-github-actions'],
  ])('anchors as GitHub makes them: %s → #%s', (heading, anchor) => {
    expect(headings(readmeTokens(`## ${heading}\n`))[0]?.anchor).toBe(anchor)
  })

  it('leaves out # lines inside fenced code, and numbers a repeated heading as GitHub does', () => {
    const hs = headings(readmeTokens('## Usage\n\n```sh\n# not a heading\n```\n\n### Usage\n'))
    expect(hs.map((h) => [h.depth, h.anchor])).toEqual([[2, 'usage'], [3, 'usage-1']])
  })

  it.each([
    ['a heading added without a TOC entry', (t: string) => t.replace('\n## Installing\n', '\n## Installing\n\n### A new section\n')],
    ['a heading renamed', (t: string) => t.replace('\n## Installing\n', '\n## Installation\n')],
    ['two TOC entries swapped', (t: string) => t.replace(/^(- \[Quick start\]\(#quick-start\))\n(- \[Installing\]\(#installing\))$/m, '$2\n$1')],
    ['a ### entry not nested', (t: string) => t.replace(/^ {2}(- \[What ocisite owns)/m, '$1')],
  ])('notices %s', (_, change) => {
    const changed = change(readme)
    expect(changed).not.toBe(readme)
    const { expected, actual } = toc(changed)
    expect(actual).not.toEqual(expected)
  })
})

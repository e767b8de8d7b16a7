// README.md read as GitHub reads it: headings (fenced code left out) with the anchors GitHub
// gives them, the table of contents, and the shell blocks a test runs verbatim.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import GithubSlugger from 'github-slugger'
import { Lexer, type Token, type Tokens } from 'marked'

export const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url))

export const readmeTokens = (text = readFileSync(readmePath, 'utf8')): Token[] => Lexer.lex(text)

/** A heading's or a link's text as rendered (code spans and emphasis reduced to their text). */
export function plainText(tokens: Token[] | undefined): string {
  return (tokens ?? []).map((t) => ('tokens' in t && t.tokens ? plainText(t.tokens) : 'text' in t ? String(t.text) : '')).join('')
}

export interface Heading {
  depth: number
  /** As rendered: `ocisite build` for "`ocisite build`". */
  text: string
  /** As written in the file. */
  markdown: string
  /** The fragment GitHub links it by (github-slugger, counting every heading before it). */
  anchor: string
}

/** Every heading, in order, with its GitHub anchor. */
export function headings(tokens: Token[]): Heading[] {
  const slugger = new GithubSlugger()
  return tokens.filter((t): t is Tokens.Heading => t.type === 'heading').map((h) => {
    const text = plainText(h.tokens)
    return { depth: h.depth, text, markdown: h.text, anchor: slugger.slug(text) }
  })
}

/** The block that follows the HTML comment starting with `marker` (`<!-- toc`, `<!-- recipe: x`). */
function afterMarker(tokens: Token[], marker: string): Token[] {
  const out: Token[] = []
  tokens.forEach((t, i) => {
    if (t.type !== 'html' || !String(t.raw).trimStart().startsWith(marker)) return
    const next = tokens.slice(i + 1).find((n) => n.type !== 'space')
    if (next) out.push(next)
  })
  return out
}

export interface TocEntry {
  depth: number
  text: string
  href: string
}

/** The entries of the list after `<!-- toc`, flattened; depth 2 for the outer list, 3 inside. */
export function tableOfContents(tokens: Token[]): TocEntry[] | undefined {
  const [list] = afterMarker(tokens, '<!-- toc')
  if (list?.type !== 'list') return undefined
  const out: TocEntry[] = []
  const walk = (l: Tokens.List, depth: number) => {
    for (const item of l.items) {
      for (const t of item.tokens) {
        if (t.type === 'list') walk(t as Tokens.List, depth + 1)
        else {
          const link = ('tokens' in t ? t.tokens ?? [] : []).find((x): x is Tokens.Link => x.type === 'link')
          out.push({ depth, text: link ? plainText(link.tokens) : String(t.raw).trim(), href: link?.href ?? '' })
        }
      }
    }
  }
  walk(list as Tokens.List, 2)
  return out
}

/** The markdown of a table of contents for these headings (what the test expects to find). */
export const tocMarkdown = (hs: Heading[]): string =>
  hs.map((h) => `${'  '.repeat(h.depth - 2)}- [${h.markdown}](#${h.anchor})`).join('\n')

/** The code of every fenced block right after `<!-- recipe: NAME -->`, in order. */
export function recipeBlocks(tokens: Token[], name: string): string[] {
  return afterMarker(tokens, `<!-- recipe: ${name} `).flatMap((t) => (t.type === 'code' ? [(t as Tokens.Code).text] : []))
}

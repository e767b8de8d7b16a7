import type { Descriptor } from '../../oci/descriptor.js'

/** Tags of one image; `image`: the whole image (it was not published before, or is not any more). */
export interface ImageTags {
  path: string
  image: boolean
  tags: string[]
}

/** A tag that now names another manifest. */
export interface MovedTag {
  path: string
  tag: string
  from: string
  to: string
}

/** How what a site publishes changed in one write: tags published, moved and unpublished. */
export interface SiteChanges {
  /** Tags the site did not publish before. */
  added: ImageTags[]
  moved: MovedTag[]
  /** Tags the site no longer publishes: named in the record of what it published before. */
  unpublished: ImageTags[]
}

/** What a site publishes, by image: the record of a past write, or a plan. */
type Images = ReadonlyArray<{ path: string; tags: ReadonlyArray<{ tag: string; entry: Descriptor }> }>

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Compare what a site published (`before`, empty for a new site) with what it will publish. */
export function changesBetween(before: Images, after: Images): SiteChanges {
  const old = new Map(before.map((i) => [i.path, new Map(i.tags.map((t) => [t.tag, t.entry.digest]))]))
  const now = new Map(after.map((i) => [i.path, new Map(i.tags.map((t) => [t.tag, t.entry.digest]))]))
  const changes: SiteChanges = { added: [], moved: [], unpublished: [] }
  for (const path of [...new Set([...old.keys(), ...now.keys()])].sort(byText)) {
    const was = old.get(path) ?? new Map<string, string>()
    const is = now.get(path) ?? new Map<string, string>()
    const added = [...is.keys()].filter((t) => !was.has(t)).sort(byText)
    const gone = [...was.keys()].filter((t) => !is.has(t)).sort(byText)
    if (added.length > 0) changes.added.push({ path, image: was.size === 0, tags: added })
    if (gone.length > 0) changes.unpublished.push({ path, image: is.size === 0, tags: gone })
    for (const [tag, to] of [...is].sort(([a], [b]) => byText(a, b))) {
      const from = was.get(tag)
      if (from !== undefined && from !== to) changes.moved.push({ path, tag, from, to })
    }
  }
  return changes
}

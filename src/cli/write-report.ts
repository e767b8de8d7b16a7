import type { BuildResult } from '../site/write/write-result.js'
import { pushAll } from '../arrays.js'
import { formatBytes, plural, publishedLines } from './output.js'

/** The one summary line of a write (build, add, rm), or of what it would do. */
function summary(result: BuildResult): string {
  const { blobs, documents, pruned } = result
  if (result.dryRun) {
    return (
      `dry run: ${plural(blobs.total, 'blob')} (${formatBytes(blobs.bytesTotal)}): ${blobs.written} to write, ${blobs.skipped} already present; ` +
      `${plural(documents.written, 'document')} to write, ${documents.unchanged} unchanged, ${plural(pruned, 'stale file')} to delete; nothing was changed\n`
    )
  }
  return (
    `${plural(blobs.total, 'blob')} (${formatBytes(blobs.bytesTotal)}): ${blobs.written} written, ${blobs.skipped} already present; ` +
    `${plural(documents.written, 'document')} written, ${documents.unchanged} unchanged${pruned ? `, ${plural(pruned, 'stale file')} removed` : ''}\n`
  )
}

/** One line per tag, or one for a whole image (`NAME (all tags: …)`). */
function tagLines(verb: string, host: string, changes: BuildResult['added'], whole: string): string[] {
  return changes.flatMap((c) => (c.image ? [`${verb} ${host}/${c.path} (${whole}: ${c.tags.join(', ')})`] : c.tags.map((t) => `${verb} ${host}/${c.path}#${t}`)))
}

/**
 * What a write prints: with `list`, every image it publishes (`NAME: TAG, …`, and how many
 * referrers it lists) and the referrers waiting for their subject; then what changed
 * (tags published, moved, unpublished; left out when everything is new, as the list says it);
 * with a dry run, every file it would delete; then the summary.
 */
export function writeReport(result: BuildResult, list: boolean): string {
  const would = (verb: string, done: string) => (result.dryRun ? `would ${verb}` : done)
  const lines: string[] = []
  const head = list ? publishedLines(result) : ''
  const allNew = result.moved.length === 0 && result.unpublished.length === 0 && result.added.length === result.images.length && result.added.every((a) => a.image)
  if (!allNew) pushAll(lines, tagLines(would('publish', 'published'), result.host, result.added, 'tags'))
  for (const m of result.moved) lines.push(`${would('move', 'moved')} ${result.host}/${m.path}#${m.tag}: ${m.from} → ${m.to}`)
  pushAll(lines, tagLines(would('unpublish', 'unpublished'), result.host, result.unpublished, 'all tags'))
  if (result.dryRun) for (const rel of result.deleted) lines.push(`would delete ${rel}`)
  return `${head}${lines.map((l) => `${l}\n`).join('')}${summary(result)}`
}

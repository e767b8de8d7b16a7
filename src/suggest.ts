import { closest, distance } from 'fastest-levenshtein'

/**
 * The candidate a misspelt `word` most likely meant, or undefined when none is near: within a
 * third of the word's length (at least 2 edits), or one a prefix of the other (`tag`, `tags`).
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined
  const guess = closest(word, [...candidates])
  const near = distance(word, guess) <= Math.max(2, Math.floor(word.length / 3)) || guess.startsWith(word) || word.startsWith(guess)
  return near ? guess : undefined
}

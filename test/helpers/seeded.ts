// A seeded random source for tests that pick random moments (kill -9 rounds, shuffled timings):
// the seed is printed, and OCISITE_TEST_SEED=<seed> replays the same choices.
import { randomInt } from 'node:crypto'

export interface Seeded {
  seed: number
  /** A number in [0, 1), as Math.random. */
  next(): number
}

/** mulberry32: small, fast and good enough to spread kill moments; not for cryptography. */
export function seeded(label: string, seed = Number(process.env.OCISITE_TEST_SEED ?? randomInt(2 ** 31))): Seeded {
  if (!Number.isSafeInteger(seed)) throw new Error(`OCISITE_TEST_SEED must be an integer, not ${process.env.OCISITE_TEST_SEED}`)
  console.log(`${label}: random seed ${seed} (replay with OCISITE_TEST_SEED=${seed})`)
  let a = seed >>> 0
  return {
    seed,
    next() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

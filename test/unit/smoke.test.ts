import { expect, it } from 'vitest'
import { parseDigest } from '../../src/oci/digest.js'
it('the unit project imports src/ directly', () => {
  expect(parseDigest('sha256:' + 'a'.repeat(64)).encoded).toBe('a'.repeat(64))
})

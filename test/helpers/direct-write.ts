// Writes SIZE random bytes to FILE through the hashing thread's writer, in 64 KiB chunks as a
// network response brings them, with direct writes rounded to ALIGN bytes. Prints one JSON line:
// {"hex": the sha256 the writer reported, "expected": the sha256 of the bytes given}. Used by
// test/hostile.test.ts.
import { createHash, randomBytes } from 'node:crypto'
import { OffThreadWriter } from '../../src/store/hash-worker.js'

const [file, size, align] = process.argv.slice(2)
const bytes = randomBytes(Number(size))
const writer = new OffThreadWriter(file!, 'sha256', { align: Number(align) })
for (let off = 0; off < bytes.length; off += 65536) await writer.write(bytes.subarray(off, off + 65536))
const { hex } = await writer.end()
console.log(JSON.stringify({ hex, expected: createHash('sha256').update(bytes).digest('hex') }))

// Writes SIZE random bytes to FILE through the hashing thread's writer, in 64 KiB chunks as a
// network response brings them, with direct writes rounded to ALIGN bytes. Prints one JSON line:
// {"hex": the sha256 the writer reported, "expected": the sha256 of the bytes given}. Used by
// test/hostile.test.ts.
import { createHash, randomBytes } from 'node:crypto'
import { OffThreadWriter } from '../../src/content/ingest/hash-worker.js'
import { streamFiller } from '../../src/fs/filler.js'

const [file, size, align] = process.argv.slice(2)
const bytes = randomBytes(Number(size))
const writer = new OffThreadWriter(file!, 'sha256', { align: Number(align) })
const chunks = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536))
await streamFiller(chunks, bytes.length).fill(writer)
const { hex } = await writer.end()
console.log(JSON.stringify({ hex, expected: createHash('sha256').update(bytes).digest('hex') }))

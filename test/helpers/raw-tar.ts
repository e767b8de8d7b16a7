// A tar archive written header by header, for entries no honest tool would write (`..`, links
// out, devices, names twice). ustar headers; names up to 100 bytes.

export interface RawEntry {
  name: string
  /** '0' file, '1' hard link, '2' symlink, '3' character device, '5' directory, '6' FIFO. */
  type: '0' | '1' | '2' | '3' | '5' | '6'
  linkname?: string
  content?: string | Buffer
  mode?: number
}

/** One entry's header block. */
export function rawHeader(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512)
  h.write(e.name, 0, 100)
  h.write(`${(e.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100)
  h.write('0000000\0', 108)
  h.write('0000000\0', 116)
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  h.write('00000000000\0', 136)
  h.write('        ', 148)
  h.write(e.type, 156)
  h.write(e.linkname ?? '', 157, 100)
  h.write('ustar\0', 257)
  h.write('00', 263)
  let sum = 0
  for (const b of h) sum += b
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return h
}

/** The padding after a body of `size` bytes. */
export const rawPadding = (size: number) => Buffer.alloc((512 - (size % 512)) % 512)

/** A whole archive, with its two zero blocks at the end. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    const body = Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content ?? '')
    blocks.push(rawHeader(e, body.byteLength), body, rawPadding(body.byteLength))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

/** Snappy (https://github.com/google/snappy/blob/main/format_description.txt): raw blocks (librdkafka) and xerial framing (Java, a broker recompressing). */
import { Corrupt } from "./compressionErrors.ts"
import { Out } from "./decoderOutput.ts"

/** Snappy's best ratio is under 22:1 (a 64-byte copy in 3 bytes): a larger declared length is corrupt. */
const SNAPPY_MAX_RATIO = 24

/** One raw snappy block (varint length, then literals and copies), appended to `out` or on its own. */
const snappyBlock = (input: Uint8Array, out?: Out): Buffer => {
  let p = 0
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (p >= input.length || shift > 28) throw new Corrupt("a truncated length")
    const b = input[p++]!
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  if (length > input.length * SNAPPY_MAX_RATIO + 64) throw new Corrupt(`a declared length of ${length} for ${input.length} bytes`)
  const o = out ?? new Out(length)
  const start = o.pos
  o.ensure(length)
  while (p < input.length) {
    const tag = input[p++]!
    const kind = tag & 3
    if (kind === 0) {
      let n = tag >>> 2
      if (n >= 60) {
        const bytes = n - 59
        if (p + bytes > input.length) throw new Corrupt("a truncated literal length")
        n = 0
        for (let i = 0; i < bytes; i++) n += input[p + i]! * 2 ** (8 * i)
        p += bytes
      }
      n += 1
      if (p + n > input.length) throw new Corrupt("a truncated literal")
      o.literal(input, p, n)
      p += n
    } else if (kind === 1) {
      if (p >= input.length) throw new Corrupt("a truncated copy")
      o.match(((tag >>> 5) << 8) | input[p++]!, 4 + ((tag >>> 2) & 7))
    } else if (kind === 2) {
      if (p + 2 > input.length) throw new Corrupt("a truncated copy")
      o.match(input[p]! | (input[p + 1]! << 8), 1 + (tag >>> 2))
      p += 2
    } else {
      if (p + 4 > input.length) throw new Corrupt("a truncated copy")
      o.match((input[p]! | (input[p + 1]! << 8) | (input[p + 2]! << 16)) + input[p + 3]! * 2 ** 24, 1 + (tag >>> 2))
      p += 4
    }
    if (o.pos - start > length) throw new Corrupt(`more than the declared ${length} bytes`)
  }
  if (o.pos - start !== length) throw new Corrupt(`${o.pos - start} bytes for a declared ${length}`)
  return o.bytes()
}

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]

const isXerial = (input: Uint8Array) => input.length >= 16 && XERIAL_MAGIC.every((b, i) => input[i] === b)

/** Snappy as Kafka producers write it: xerial's framing (Java, a broker recompressing) or one raw block (librdkafka). */
export const snappyDecompress = (input: Uint8Array): Buffer => {
  if (!isXerial(input)) return snappyBlock(input)
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const out = new Out(input.length * 3)
  // Magic, then version and compatible version (int32 each).
  let p = 16
  while (p < input.length) {
    if (p + 4 > input.length) throw new Corrupt("a truncated chunk length")
    const n = view.getUint32(p)
    p += 4
    if (p + n > input.length) throw new Corrupt("a truncated chunk")
    snappyBlock(input.subarray(p, p + n), out)
    p += n
  }
  return out.bytes()
}

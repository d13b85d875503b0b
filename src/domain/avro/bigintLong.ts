/** Avro long as bigint for avsc: snapshot ids, sequence numbers and source sequences use all 64 bits. */
import avro from "avsc"

export const BigIntLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.allocUnsafe(8)
    buf.writeBigInt64LE(n)
    return buf
  },
  fromJSON: (v: number | string) => BigInt(v),
  // A string keeps avsc's internal copies (clone goes through JSON) lossless.
  toJSON: (n: bigint) => n.toString(),
  isValid: (v: unknown) => typeof v === "bigint",
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0)
})

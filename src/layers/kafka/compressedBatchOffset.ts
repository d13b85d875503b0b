/** Where a compressed batch sits in the fetched bytes, for errors that name it. */

/**
 * The base offset of the record batch whose records `payload` is, when it is a view into the
 * fetched bytes (as kafkajs decodes, and platformatic when a response came in one read): its 61-byte
 * header sits right before the records. A copy (in Node's pool, after other bytes) is told apart by
 * the header's magic byte and its length, which counts the payload.
 */
export const batchBaseOffset = (payload: Uint8Array): bigint | undefined => {
  if (payload.byteOffset < 61) return undefined
  const header = new DataView(payload.buffer, payload.byteOffset - 61, 61)
  // The batch's length (from 12 on: 49 bytes of header, then the records) at 8, the magic byte (2) at 16.
  return header.getInt32(8) === 49 + payload.length && header.getInt8(16) === 2 ? header.getBigInt64(0) : undefined
}

/** A complete fetched record batch checked before any of it is read (Java's consumer's `check.crcs`, ADR-88). */
import { crc32c } from "./crc32c.ts"
import { KafkaBatchCorrupt, KafkaRecordFormatUnsupported } from "./recordBatchErrors.ts"
import { BATCH_HEADER, CRC_AT, CRC_FROM, MAGIC, MAGIC_AT } from "./recordBatchLayout.ts"

/**
 * Checks the complete batch at `pos` of `buf` (its length field fits in `buf`) before any of it is
 * read: magic 2, a length that holds the header, and its CRC-32C; throws naming `where` if not.
 * `reader` says what reads it, for a batch of magic 0 or 1.
 */
export const checkBatch = (buf: Buffer, pos: number, where: string, reader?: string): void => {
  const length = buf.readInt32BE(pos + 8)
  const firstOffset = buf.readBigInt64BE(pos)
  // A message set of magic 0 or 1 (written before Kafka 0.11, kept as stored) read as v2 gave
  // attributes, offsets and a count from its key and value: records skipped or made up in silence.
  const magic = length > MAGIC_AT - 12 ? buf.readInt8(pos + MAGIC_AT) : undefined
  if (magic !== undefined && magic !== MAGIC) throw new KafkaRecordFormatUnsupported(where, firstOffset, magic, reader)
  if (length < BATCH_HEADER) throw KafkaBatchCorrupt.tooShort(where, firstOffset, length)
  const stored = buf.readUInt32BE(pos + CRC_AT)
  const computed = crc32c(buf, pos + CRC_FROM, pos + 12 + length)
  if (computed !== stored) throw KafkaBatchCorrupt.crcMismatch(where, firstOffset, stored, computed)
}

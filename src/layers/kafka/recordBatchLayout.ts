/**
 * Where the fields of a record batch (Kafka's v2 format, magic 2) sit, counted from the batch's
 * first byte, and what its attribute bits mean.
 */

/** Batch header: base offset (8), length (4), then 49 bytes to the records' count; records at 61. */
export const RECORDS_AT = 61
/** A batch's bytes after its length field, up to its records. */
export const BATCH_HEADER = RECORDS_AT - 12
/** The batch's magic (after the partition leader epoch): 2, Kafka's record batch format since 0.11. */
export const MAGIC_AT = 16
export const MAGIC = 2
/** The batch's CRC-32C, of its bytes from the attributes (CRC_FROM) to its end. */
export const CRC_AT = 17
export const CRC_FROM = 21
/** Batch attribute bit 3: timestamps are the broker's append time (maxTimestamp). */
export const LOG_APPEND_TIME = 0x08
export const IS_TRANSACTIONAL = 0x10
export const IS_CONTROL = 0x20
export const CODEC = 0x07
/** Control record key type of an abort marker (commit is 1). */
export const CONTROL_ABORT = 0

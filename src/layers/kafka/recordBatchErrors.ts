/**
 * What is wrong with a fetched record batch: the errors the consumer fails with (a format before
 * v2, a damaged batch), and the details of a record that its batch's bytes do not hold.
 */
import { BATCH_HEADER } from "./recordBatchLayout.ts"

/**
 * A fetched batch in a message format before v2 (magic 0 or 1), which K2 does not read: the
 * consumer fails with it (KafkaRejected) rather than deliver records read from the wrong bytes.
 */
export class KafkaRecordFormatUnsupported extends Error {
  override readonly name = "KafkaRecordFormatUnsupported"
  readonly retriable = false
  readonly offset: bigint
  readonly magic: number
  constructor(
    where: string,
    offset: bigint,
    magic: number,
    reader = "the platformatic layer reads Kafka's record batch format v2 (magic 2, Kafka 0.11 and later) only"
  ) {
    super(`in ${where}, the batch at offset ${offset} has magic ${magic}: ${reader}. Fix: copy the topic's records to a new topic with a current producer`)
    this.offset = offset
    this.magic = magic
  }
}

/** What to do about a damaged batch: the broker serves the same bytes to every fetch. */
const CORRUPT_FIX = "Fix: restart the consumer once (a batch damaged on the way is fetched again intact); if it fails again at the " +
  "same offset the leader's copy is damaged: check the partition's log segment on the leader (kafka-dump-log.sh --deep-iteration " +
  "--files <segment>.log), move leadership to a replica whose copy is intact (kafka-reassign-partitions.sh), or, to give up its " +
  "records, move the group's offset past the batch (kafka-consumer-groups.sh --reset-offsets --to-offset) or delete the records " +
  "below it (kafka-delete-records.sh)"

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`

/**
 * A fetched batch that is not what it says: its length cannot hold a record batch's header (49
 * bytes after the length; read on, the position would step back or stand still: the reader looped
 * for ever), or its CRC-32C does not match its bytes (damaged on disk or on the way), or, its CRC
 * true, its (decompressed) bytes do not hold the records it counts, or hold bytes after them, or a
 * record's key, value or headers run past its own length or end short of it, or a transaction
 * marker's key is not one (under 4 bytes, null, a negative version) (`records`, where Java's consumer
 * refuses it too: as its producer wrote it, or as K2's decoder of its codec read it). A control
 * batch's records are read with the same checks. Not retriable: the broker serves the same bytes
 * again; the message says what to do.
 */
export class KafkaBatchCorrupt extends Error {
  override readonly name = "KafkaBatchCorrupt"
  readonly retriable = false
  readonly offset: bigint
  readonly reason: "length" | "crc" | "records"
  constructor(reason: "length" | "crc" | "records", offset: bigint, message: string) {
    super(message)
    this.reason = reason
    this.offset = offset
  }
  static tooShort(where: string, offset: bigint, length: number): KafkaBatchCorrupt {
    return new KafkaBatchCorrupt(
      "length",
      offset,
      `in ${where}, the batch at offset ${offset} says it is ${length} bytes long, less than a record batch's header (${BATCH_HEADER}): ` +
        `the fetched data is corrupt. ${CORRUPT_FIX}`
    )
  }
  static crcMismatch(where: string, offset: bigint, stored: number, computed: number): KafkaBatchCorrupt {
    return new KafkaBatchCorrupt(
      "crc",
      offset,
      `in ${where}, the batch at offset ${offset} fails its CRC-32C check (stored ${hex(stored)}, computed ${hex(computed)}): ` +
        `its bytes were damaged on disk or on the way, and none of its records was delivered. ${CORRUPT_FIX}`
    )
  }
  static records(where: string, offset: bigint, count: number, detail: string, next: bigint): KafkaBatchCorrupt {
    return new KafkaBatchCorrupt(
      "records",
      offset,
      `in ${where}, the batch at offset ${offset} counts ${count} records that its bytes do not hold (${detail}); its CRC-32C ` +
        "matches: it was written so (or K2's decoder of its codec read it wrong), and it reads the same on every fetch. Fix: look " +
        "at it on the leader (kafka-dump-log.sh --deep-iteration --print-data-log --files <segment>.log); to give up its records, " +
        `move the group's offset past it (kafka-consumer-groups.sh --reset-offsets --to-offset ${next}) or delete the records below ` +
        "that offset (kafka-delete-records.sh)"
    )
  }
}

/*
 * A record its batch's bytes do not hold, as a RangeError (the kind a read past the bytes throws):
 * `readRecordBatches` names the batch with it in `KafkaBatchCorrupt.records`.
 */

/** A key or value that runs past its record's length. */
export const keyOrValuePastRecord = (i: number): RangeError => new RangeError(`record ${i}'s key or value ends past the record`)
export const headersNotRecordEnd = (i: number, at: number, recordEnd: number): RangeError =>
  new RangeError(at > recordEnd ? `record ${i}'s headers end past the record` : `record ${i} has ${recordEnd - at} bytes after its headers`)
/** A negative count of records or headers, which Java's consumer refuses ("Found invalid record count", "… number of record headers"). */
export const negativeCount = (what: "record" | "header", n: number): RangeError => new RangeError(`a ${what} count of ${n}`)
export const spareAfterRecords = (count: number, at: number, dataEnd: number): RangeError =>
  new RangeError(`${dataEnd - at} bytes after its ${count} records`)

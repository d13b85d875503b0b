/**
 * A fetched partition's record batches (Kafka's v2 format), read by K2 from the response's bytes:
 * no Buffer per key, header name and header value, no object per record or header (what
 * @platformatic/kafka's own parse made, ~1 KB a record; docs/benchmarks.md). Keys and headers
 * are compared with the previous record's as bytes, in place, and share its string or (read-only)
 * object when equal; a value is a view of the fetched (or decompressed) bytes, as before.
 *
 * What the platformatic layer delivered before, exactly (test/layers/kafka/recordBatches.test.ts
 * checks it against platformatic's parse): read committed (a producer's transactional batches
 * from its listed first offset until its abort marker dropped, as Java's consumer does), control
 * batches never delivered, records below the fetch offset skipped, a truncated last batch left for
 * the next fetch, offsets and timestamps exact, keys and header values that may not be UTF-8 with
 * their bytes beside them. Unlike platformatic's parse, each complete batch's CRC-32C is checked
 * before any of it is read, as Java's consumer does (`check.crcs`, ADR-88): a batch damaged on disk
 * or on the way fails the consumer (`KafkaBatchCorrupt`) rather than deliver wrong records, or read
 * into the next batch on a damaged count. A batch of magic 0 or 1 fails too
 * (`KafkaRecordFormatUnsupported`) rather than be read as v2.
 */
import { setEntry } from "../../domain/wire.ts"
import type { KafkaHeaderEntry, KafkaRecord } from "../../services/KafkaSource.ts"
import { crc32c } from "./crc32c.ts"
import { bytesBeside, mayHaveLostBytes } from "./textBytes.ts"

/** Batch header: base offset (8), length (4), then 49 bytes to the records' count; records at 61. */
const RECORDS_AT = 61
/** A batch's bytes after its length field, up to its records. */
const BATCH_HEADER = RECORDS_AT - 12
/** The batch's magic (after the partition leader epoch): 2, Kafka's record batch format since 0.11. */
export const MAGIC_AT = 16
export const MAGIC = 2
/** The batch's CRC-32C, of its bytes from the attributes (CRC_FROM) to its end. */
const CRC_AT = 17
const CRC_FROM = 21
/** Batch attribute bit 3: timestamps are the broker's append time (maxTimestamp). */
const LOG_APPEND_TIME = 0x08
const IS_TRANSACTIONAL = 0x10
const IS_CONTROL = 0x20
const CODEC = 0x07
/** Control record key type of an abort marker (commit is 1). */
const CONTROL_ABORT = 0
/** Keys and header names this short are interned; header values this short too. */
const SHORT_NAME = 32
const SHORT_VALUE = 8

/**
 * Decompresses a batch's records (`codec` its attributes' low bits), `data` a view of the fetched
 * bytes just after the batch's header, or throws naming the batch.
 */
export type Decompress = (codec: number, data: Buffer) => Buffer

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

export interface AbortedTransaction {
  readonly producerId: bigint
  readonly firstOffset: bigint
}

/** Strings shared by records of one process: keys, header names and short values repeat. */
const interned = new Map<string, string>()
const INTERNED_ENTRIES = 100_000
const internedText = (buf: Buffer, start: number, end: number): string => {
  const s = buf.toString("utf8", start, end)
  const known = interned.get(s)
  if (known !== undefined) return known
  if (interned.size >= INTERNED_ENTRIES) interned.clear()
  interned.set(s, s)
  return s
}

const sameRange = (a: Buffer, as: number, b: Buffer, bs: number, n: number): boolean => {
  if (a === b && as === bs) return true
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false
  return true
}

const TWO_32 = 4294967296

/** Reads varints from `buf` at `pos` (Kafka's zigzag encoding). */
class Cursor {
  pos = 0
  buf: Buffer
  constructor(buf: Buffer) {
    this.buf = buf
  }
  reset(buf: Buffer, pos: number) {
    this.buf = buf
    this.pos = pos
  }
  /** Where record `i`, whose length is read here, ends: within `dataEnd`, the end of the batch's records. */
  recordEnd(i: number, dataEnd: number): number {
    const length = this.varint()
    const end = this.pos + length
    if (length < 0 || end > dataEnd) throw new RangeError(`record ${i} ends past the batch's records`)
    return end
  }
  /** A zigzag varint of at most 32 bits. */
  varint(): number {
    const buf = this.buf
    let v = 0
    let shift = 0
    let b: number
    do {
      if (shift > 28) throw new RangeError("a varint longer than 5 bytes in a record batch")
      b = buf[this.pos++]!
      if (b === undefined) throw new RangeError("a record batch ends inside a record")
      v |= (b & 0x7f) << shift
      shift += 7
    } while ((b & 0x80) !== 0)
    return (v >>> 1) ^ -(v & 1)
  }
  /** A zigzag varlong as a number when exact, else undefined (the cursor past it either way). */
  varlongNumber(): number | undefined {
    const buf = this.buf
    let v = 0
    let mul = 1
    let b: number
    let bytes = 0
    do {
      if (++bytes > 10) throw new RangeError("a varlong longer than 10 bytes in a record batch")
      b = buf[this.pos++]!
      if (b === undefined) throw new RangeError("a record batch ends inside a record")
      v += (b & 0x7f) * mul
      mul *= 128
    } while ((b & 0x80) !== 0)
    if (v > Number.MAX_SAFE_INTEGER) return undefined
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2
  }
  /** The same varlong, exact, as a bigint: its bits past 64 dropped, as Java's `ByteUtils.readVarlong` does. */
  varlongBig(at: number): bigint {
    const buf = this.buf
    let v = 0n
    let shift = 0n
    let b: number
    let p = at
    do {
      b = buf[p++]!
      v |= BigInt(b & 0x7f) << shift
      shift += 7n
    } while ((b & 0x80) !== 0)
    this.pos = p
    v = BigInt.asUintN(64, v)
    return (v >> 1n) ^ -(v & 1n)
  }
}

/** 64-bit big-endian integer at `at` as a number (exact when safe), for the fast paths. */
const int64Number = (buf: Buffer, at: number): number => buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)

const EMPTY: Readonly<Record<string, string>> = Object.freeze({})

/**
 * The records of one partition's fetched batches from `fromOffset` on, and the offset after the
 * last complete batch (-1 when none). `topic` and `partition` only name a batch in an error.
 */
export const readRecordBatches = (
  buf: Buffer,
  fromOffset: bigint,
  abortedTransactions: ReadonlyArray<AbortedTransaction> | null | undefined,
  decompress: Decompress,
  topic: string,
  partition: number
): { readonly records: Array<KafkaRecord>; readonly next: bigint } => {
  const records: Array<KafkaRecord> = []
  let next = -1n
  const aborted = abortedTransactions === null || abortedTransactions === undefined || abortedTransactions.length === 0
    ? []
    : [...abortedTransactions].sort((a, b) => a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0)
  let nextAborted = 0
  const abortedProducers = new Set<bigint>()
  const fromNumber = Number(fromOffset)
  const fromExact = Number.isSafeInteger(fromNumber)

  // The previous record's key and header bytes, and what they decoded to.
  let keyBuf: Buffer | undefined
  let keyAt = 0
  let keyLen = -1
  let key: string | null = null
  let keyLost: Uint8Array | undefined
  let headBuf: Buffer | undefined
  let headAt = 0
  let headLen = -1
  let headers: Readonly<Record<string, string>> = EMPTY
  let headerBytes: Record<string, Uint8Array> | undefined
  let headerList: ReadonlyArray<KafkaHeaderEntry> | undefined

  const cur = new Cursor(buf)
  let pos = 0
  while (buf.length - pos >= 12 && buf.length - pos - 12 >= buf.readInt32BE(pos + 8)) {
    const length = buf.readInt32BE(pos + 8)
    const end = pos + 12 + length
    const firstOffset = buf.readBigInt64BE(pos)
    // Only complete batches get here: a truncated last one is left for the next fetch, unchecked.
    checkBatch(buf, pos, `${topic} partition ${partition}`)
    const attributes = buf.readInt16BE(pos + 21)
    const lastOffsetDelta = buf.readInt32BE(pos + 23)
    const last = firstOffset + BigInt(lastOffsetDelta)
    if (last + 1n > next) next = last + 1n
    while (nextAborted < aborted.length && aborted[nextAborted]!.firstOffset <= last) {
      abortedProducers.add(aborted[nextAborted++]!.producerId)
    }
    const control = (attributes & IS_CONTROL) !== 0
    if (!control && (attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.size > 0 && abortedProducers.has(buf.readBigInt64BE(pos + 43))) {
      pos = end
      continue
    }
    const count = buf.readInt32BE(pos + 57)
    let data = buf
    let at = pos + RECORDS_AT
    const codec = attributes & CODEC
    if (codec !== 0) {
      data = decompress(codec, buf.subarray(pos + RECORDS_AT, end))
      at = 0
    }
    cur.reset(data, at)
    // The records' bytes end here: uncompressed, they are a view of the fetch, the next batch after them.
    const dataEnd = codec !== 0 ? data.length : end
    const logAppend = (attributes & LOG_APPEND_TIME) !== 0
    const firstNumber = int64Number(buf, pos)
    const firstExact = Number.isSafeInteger(firstNumber)
    const firstTimestamp = int64Number(buf, pos + 27)
    const maxTimestamp = logAppend ? Number(buf.readBigInt64BE(pos + 35)) : 0
    try {
      if (count < 0) throw negativeCount("record", count)
      // A control batch's records are its marker, read by markerType; its bytes checked as any batch's below.
      if (control && markerType(cur, data, dataEnd, count) === CONTROL_ABORT) abortedProducers.delete(buf.readBigInt64BE(pos + 43))
      const delivered = control ? 0 : count
      for (let i = 0; i < delivered; i++) {
        const recordEnd = cur.recordEnd(i, dataEnd)
        cur.pos++ // attributes
        const tsAt = cur.pos
        const tsDelta = cur.varlongNumber()
        let tsBig: bigint | undefined
        if (tsDelta === undefined) tsBig = cur.varlongBig(tsAt)
        const offsetDelta = cur.varint()
        const offsetNumber = firstNumber + offsetDelta
        const offsetExact = firstExact && Number.isSafeInteger(offsetNumber)
        if (offsetExact && fromExact ? offsetNumber < fromNumber : firstOffset + BigInt(offsetDelta) < fromOffset) {
          cur.pos = recordEnd
          continue
        }
        // Key
        const kLen = cur.varint()
        const kAt = cur.pos
        let recKey: string | null
        let recKeyBytes: Uint8Array | undefined
        if (kLen < 0) {
          recKey = null
        } else {
          cur.pos += kLen
          if (kLen > SHORT_NAME) {
            recKey = data.toString("utf8", kAt, kAt + kLen)
            recKeyBytes = bytesBeside(recKey, data.subarray(kAt, kAt + kLen))
          } else {
            if (keyBuf === undefined || kLen !== keyLen || !sameRange(data, kAt, keyBuf, keyAt, kLen)) {
              key = internedText(data, kAt, kAt + kLen)
              keyLost = bytesBeside(key, data.subarray(kAt, kAt + kLen))
              keyBuf = data
              keyAt = kAt
              keyLen = kLen
            }
            recKey = key
            recKeyBytes = keyLost
          }
        }
        // Value
        const vLen = cur.varint()
        let value: Buffer | null = null
        if (vLen >= 0) {
          value = data.subarray(cur.pos, cur.pos + vLen)
          cur.pos += vLen
        }
        // A key or value longer than its record: read on into the next record (or batch), as Java refuses it.
        if (cur.pos > recordEnd) throw new RangeError(`record ${i}'s key or value ends past the record`)
        // Headers: the whole block compared with the previous record's.
        const hAt = cur.pos
        const hLen = recordEnd - hAt
        let recHeaders: Readonly<Record<string, string>>
        let recHeaderBytes: Record<string, Uint8Array> | undefined
        let recHeaderList: ReadonlyArray<KafkaHeaderEntry> | undefined
        if (data[hAt] === 0 && hLen === 1) {
          recHeaders = EMPTY
        } else {
          if (headBuf === undefined || hLen !== headLen || !sameRange(data, hAt, headBuf, headAt, hLen)) {
            const decoded = decodeHeaderBlock(cur, data)
            // Past the record, or short of its end (bytes after the headers, Java's "Invalid record size"): a
            // block equal to the previous record's, not decoded again, ends at its record's end as that one did.
            if (cur.pos !== recordEnd) throw headersNotRecordEnd(i, cur.pos, recordEnd)
            headers = decoded.headers
            headerBytes = decoded.bytes
            headerList = decoded.list
            headBuf = data
            headAt = hAt
            headLen = hLen
          }
          recHeaders = headers
          recHeaderBytes = headerBytes
          recHeaderList = headerList
        }
        cur.pos = recordEnd
        const record: KafkaRecord = {
          offset: offsetExact ? BigInt(offsetNumber) : firstOffset + BigInt(offsetDelta),
          key: recKey,
          value,
          headers: recHeaders,
          timestamp: logAppend ? maxTimestamp : timestampOf(buf, pos, firstTimestamp, tsDelta, tsBig)
        }
        records.push(
          recKeyBytes === undefined && recHeaderBytes === undefined && recHeaderList === undefined
            ? record
            : {
              ...record,
              ...(recKeyBytes === undefined ? {} : { keyBytes: recKeyBytes }),
              ...(recHeaderBytes === undefined ? {} : { headerBytes: recHeaderBytes }),
              ...(recHeaderList === undefined ? {} : { headerList: recHeaderList })
            }
        )
      }
      // Bytes after the records it counts (Java's DefaultRecordBatch: "records still remaining"); a batch counting
      // none is not read, as Java's iterator reads none of it.
      if (count > 0 && cur.pos !== dataEnd) throw spareAfterRecords(count, cur.pos, dataEnd)
    } catch (e) {
      // Read past the records (a varint, a record's length): named, not a bare RangeError.
      if (e instanceof RangeError) throw KafkaBatchCorrupt.records(`${topic} partition ${partition}`, firstOffset, count, e.message, last + 1n)
      throw e
    }
    pos = end
  }
  return { records, next }
}

const headersNotRecordEnd = (i: number, at: number, recordEnd: number): RangeError =>
  new RangeError(at > recordEnd ? `record ${i}'s headers end past the record` : `record ${i} has ${recordEnd - at} bytes after its headers`)
/** A negative count of records or headers, which Java's consumer refuses ("Found invalid record count", "… number of record headers"). */
const negativeCount = (what: "record" | "header", n: number): RangeError => new RangeError(`a ${what} count of ${n}`)
const spareAfterRecords = (count: number, at: number, dataEnd: number): RangeError =>
  new RangeError(`${dataEnd - at} bytes after its ${count} records`)

/**
 * A control batch's records at the cursor, read as any batch's are (Java's consumer reads them all,
 * DefaultRecord's checks and DefaultRecordBatch's), and the type of its transaction marker: its first
 * record's key is version (int16, not negative), type (int16), as Java's `ControlRecordType.parse`
 * reads it (a key shorter, or null, fails there). Undefined for a batch counting no record; throws
 * a RangeError saying what is wrong. Its count and the bytes after its records: `readRecordBatches`.
 */
const markerType = (cur: Cursor, data: Buffer, dataEnd: number, count: number): number | undefined => {
  let type: number | undefined
  for (let i = 0; i < count; i++) {
    const recordEnd = cur.recordEnd(i, dataEnd)
    cur.pos++ // attributes
    cur.varlongNumber() // timestamp delta (the cursor moves past it, exact or not)
    cur.varint() // offset delta
    const kLen = cur.varint()
    const kAt = cur.pos
    if (kLen > 0) cur.pos += kLen
    const vLen = cur.varint()
    if (vLen > 0) cur.pos += vLen
    if (cur.pos > recordEnd) throw new RangeError(`record ${i}'s key or value ends past the record`)
    decodeHeaderBlock(cur, data)
    if (cur.pos !== recordEnd) throw headersNotRecordEnd(i, cur.pos, recordEnd)
    if (i === 0) {
      if (kLen < 4) throw new RangeError(`its transaction marker's key is ${kLen < 0 ? "null" : `${kLen} bytes`}, not a marker's 4 (version, type)`)
      const version = data.readInt16BE(kAt)
      if (version < 0) throw new RangeError(`its transaction marker's key has version ${version}`)
      type = data.readInt16BE(kAt + 2)
    }
  }
  return type
}

/** firstTimestamp + delta, summed in numbers while exact. */
const timestampOf = (buf: Buffer, batchAt: number, first: number, delta: number | undefined, deltaBig: bigint | undefined): number => {
  if (delta !== undefined) {
    const at = first + delta
    if (Number.isSafeInteger(first) && Number.isSafeInteger(at)) return at
  }
  return Number(buf.readBigInt64BE(batchAt + 27) + (deltaBig ?? BigInt(delta!)))
}

/**
 * A record's headers at the cursor: the last of a name wins, a null name is skipped, a null value
 * is "" (as `decodeHeaders`); the bytes of values that may not be UTF-8 beside them; when a name
 * repeats, every header in order, values copied (`list`: the block read again into `all`, so that
 * headers whose names do not repeat cost nothing more).
 */
const decodeHeaderBlock = (cur: Cursor, data: Buffer, all?: Array<KafkaHeaderEntry>): {
  headers: Readonly<Record<string, string>>
  bytes: Record<string, Uint8Array> | undefined
  list: ReadonlyArray<KafkaHeaderEntry> | undefined
} => {
  const start = cur.pos
  let repeated = false
  const n = cur.varint()
  if (n < 0) throw negativeCount("header", n)
  const out: Record<string, string> = {}
  const raw: Array<readonly [string, number, number]> = []
  for (let i = 0; i < n; i++) {
    const kLen = cur.varint()
    const kAt = cur.pos
    if (kLen > 0) cur.pos += kLen
    const vLen = cur.varint()
    const vAt = cur.pos
    if (vLen > 0) cur.pos += vLen
    if (kLen < 0) continue
    const name = kLen <= SHORT_NAME ? internedText(data, kAt, kAt + kLen) : data.toString("utf8", kAt, kAt + kLen)
    const value = vLen < 0 ? "" : vLen <= SHORT_VALUE ? internedText(data, vAt, vAt + vLen) : data.toString("utf8", vAt, vAt + vLen)
    if (!repeated && Object.hasOwn(out, name)) repeated = true
    setEntry(out, name, value)
    if (vLen > 0 && mayHaveLostBytes(value)) raw.push([name, vAt, vLen])
    // The fetch's buffer is let go: the list holds copies.
    if (all !== undefined) all.push([name, vLen < 0 ? new Uint8Array(0) : Uint8Array.from(data.subarray(vAt, vAt + vLen))])
  }
  let bytes: Record<string, Uint8Array> | undefined
  for (const name in out) {
    if (!mayHaveLostBytes(out[name]!)) continue
    // The last value of that name, as `rawHeader` finds it.
    for (let i = raw.length - 1; i >= 0; i--) {
      const [k, at, len] = raw[i]!
      if (k === name) {
        setEntry(bytes ??= {}, name, Uint8Array.from(data.subarray(at, at + len)))
        break
      }
    }
  }
  if (!repeated || all !== undefined) return { headers: out, bytes, list: all }
  const end = cur.pos
  cur.pos = start
  const again = decodeHeaderBlock(cur, data, [])
  cur.pos = end
  return again
}

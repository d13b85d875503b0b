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
import type { KafkaHeaderEntry, KafkaRecord } from "../../services/KafkaSource.ts"
import { checkBatch } from "./recordBatchCheck.ts"
import { headersNotRecordEnd, KafkaBatchCorrupt, keyOrValuePastRecord, negativeCount, spareAfterRecords } from "./recordBatchErrors.ts"
import { CODEC, CONTROL_ABORT, IS_CONTROL, IS_TRANSACTIONAL, LOG_APPEND_TIME, RECORDS_AT } from "./recordBatchLayout.ts"
import { Cursor, int64Number } from "./recordCursor.ts"
import { decodeHeaderBlock } from "./recordHeaders.ts"
import { internedText, sameRange, SHORT_NAME } from "./recordText.ts"
import { bytesBeside } from "./textBytes.ts"
import { AbortedProducers, type AbortedTransaction, markerType } from "./transactionMarkers.ts"

export { checkBatch } from "./recordBatchCheck.ts"
export { KafkaBatchCorrupt, KafkaRecordFormatUnsupported } from "./recordBatchErrors.ts"
export { MAGIC, MAGIC_AT } from "./recordBatchLayout.ts"
export type { AbortedTransaction } from "./transactionMarkers.ts"

/**
 * Decompresses a batch's records (`codec` its attributes' low bits), `data` a view of the fetched
 * bytes just after the batch's header, or throws naming the batch.
 */
export type Decompress = (codec: number, data: Buffer) => Buffer

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
  const aborted = new AbortedProducers(abortedTransactions)
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
    aborted.reach(last)
    const control = (attributes & IS_CONTROL) !== 0
    if (!control && (attributes & IS_TRANSACTIONAL) !== 0 && aborted.any() && aborted.has(buf.readBigInt64BE(pos + 43))) {
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
      if (control && markerType(cur, data, dataEnd, count) === CONTROL_ABORT) aborted.close(buf.readBigInt64BE(pos + 43))
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
        if (cur.pos > recordEnd) throw keyOrValuePastRecord(i)
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

/** firstTimestamp + delta, summed in numbers while exact. */
const timestampOf = (buf: Buffer, batchAt: number, first: number, delta: number | undefined, deltaBig: bigint | undefined): number => {
  if (delta !== undefined) {
    const at = first + delta
    if (Number.isSafeInteger(first) && Number.isSafeInteger(at)) return at
  }
  return Number(buf.readBigInt64BE(batchAt + 27) + (deltaBig ?? BigInt(delta!)))
}

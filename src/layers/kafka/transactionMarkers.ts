/**
 * Read committed, as Java's consumer reads: a producer's transactional batches are aborted from
 * the first offset the fetch lists for its aborted transaction until its abort marker, the one
 * record of a control batch.
 */
import { headersNotRecordEnd, keyOrValuePastRecord } from "./recordBatchErrors.ts"
import type { Cursor } from "./recordCursor.ts"
import { decodeHeaderBlock } from "./recordHeaders.ts"

export interface AbortedTransaction {
  readonly producerId: bigint
  readonly firstOffset: bigint
}

/** The producers whose transaction is aborted at the batch being read, batch after batch in offset order. */
export class AbortedProducers {
  private readonly listed: ReadonlyArray<AbortedTransaction>
  private next = 0
  private readonly open = new Set<bigint>()
  constructor(abortedTransactions: ReadonlyArray<AbortedTransaction> | null | undefined) {
    this.listed = abortedTransactions === null || abortedTransactions === undefined || abortedTransactions.length === 0
      ? []
      : [...abortedTransactions].sort((a, b) => a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0)
  }
  /** Opens the aborted transactions listed as starting at or below `last`, a batch's last offset. */
  reach(last: bigint): void {
    while (this.next < this.listed.length && this.listed[this.next]!.firstOffset <= last) {
      this.open.add(this.listed[this.next++]!.producerId)
    }
  }
  /** Whether any producer's transaction is aborted here (before reading a batch's producer id). */
  any(): boolean {
    return this.open.size > 0
  }
  has(producerId: bigint): boolean {
    return this.open.has(producerId)
  }
  /** At `producerId`'s abort marker: its next batches are delivered again. */
  close(producerId: bigint): void {
    this.open.delete(producerId)
  }
}

/**
 * A control batch's records at the cursor, read as any batch's are (Java's consumer reads them all,
 * DefaultRecord's checks and DefaultRecordBatch's), and the type of its transaction marker: its first
 * record's key is version (int16, not negative), type (int16), as Java's `ControlRecordType.parse`
 * reads it (a key shorter, or null, fails there). Undefined for a batch counting no record; throws
 * a RangeError saying what is wrong. Its count and the bytes after its records: `readRecordBatches`.
 */
export const markerType = (cur: Cursor, data: Buffer, dataEnd: number, count: number): number | undefined => {
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
    if (cur.pos > recordEnd) throw keyOrValuePastRecord(i)
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

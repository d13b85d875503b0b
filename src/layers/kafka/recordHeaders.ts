/** A record's headers, read from a record batch. */
import { setEntry } from "../../domain/wire.ts"
import { negativeCount } from "./recordBatchErrors.ts"
import type { KafkaHeaderEntry } from "../../services/KafkaSource.ts"
import type { Cursor } from "./recordCursor.ts"
import { internedText, SHORT_NAME, SHORT_VALUE } from "./recordText.ts"
import { mayHaveLostBytes } from "./textBytes.ts"

/**
 * A record's headers at the cursor: the last of a name wins, a null name is skipped, a null value
 * is "" (as `decodeHeaders`); the bytes of values that may not be UTF-8 beside them; when a name
 * repeats, every header in order, values copied (`list`: the block read again into `all`, so that
 * headers whose names do not repeat cost nothing more).
 */
export const decodeHeaderBlock = (cur: Cursor, data: Buffer, all?: Array<KafkaHeaderEntry>): {
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

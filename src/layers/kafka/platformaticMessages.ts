/**
 * K2's records as the messages platformatic's producer sends: keys and values as Buffers, headers
 * as Map<Buffer, Buffer> (string keys make its idempotent producer hang), the UTF-8 of names that
 * repeat on every record cached.
 */
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaHeaderBytes } from "../../services/KafkaSource.ts"
import { sentHeaderBytes, toBuffer, utf8Bytes } from "./textBytes.ts"

/** Keys and header names this short are cached (received ones are interned: recordText.ts). */
const SHORT_NAME = 32

/**
 * UTF-8 of record keys and header names: a few symbols and names repeat on every record. Short
 * ones only (as recordText.ts interns them): a dead letter carries its poison record's key and
 * header names, each distinct and of any length, which were all kept until 100,000 of them.
 */
const utf8Cache = new Map<string, Buffer>()
const UTF8_CACHE_ENTRIES = 100_000
const cachedUtf8 = (s: string): Buffer => {
  if (s.length > SHORT_NAME) return Buffer.from(s, "utf8")
  let b = utf8Cache.get(s)
  if (b === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_ENTRIES) utf8Cache.clear()
    b = Buffer.from(s, "utf8")
    utf8Cache.set(s, b)
  }
  return b
}

/** Short header values (schema ids) repeat on every record; long ones (ids, trace context) do not. */
const SHORT_VALUE = 8

const encodeHeaders = (h: Readonly<Record<string, string>>, bytes: KafkaHeaderBytes | undefined): Map<Buffer, Buffer> => {
  const out = new Map<Buffer, Buffer>()
  for (const k in h) {
    const v = h[k]!
    const raw = sentHeaderBytes(bytes, k)
    out.set(cachedUtf8(k), raw !== undefined ? toBuffer(raw) : v.length <= SHORT_VALUE ? cachedUtf8(v) : Buffer.from(v, "utf8"))
  }
  return out
}

interface PMessage {
  topic: string
  key?: Buffer
  value?: Buffer
  headers?: Map<Buffer, Buffer>
  partition?: number
  timestamp?: bigint
}

/** Built field by field: object spreads per record showed in produce profiles. */
export const toMessage = (r: ProducerRecord): PMessage => {
  const m: PMessage = { topic: r.topic }
  if (r.keyBytes !== undefined) m.key = toBuffer(r.keyBytes)
  else if (r.key !== null) m.key = cachedUtf8(r.key)
  if (r.value !== null) m.value = toBuffer(r.value)
  // Every header, a name maybe repeated: each its own Buffer, the Map's own key.
  if (r.headerList !== undefined) m.headers = new Map(r.headerList.map(([name, value]) => [utf8Bytes(name), toBuffer(value)]))
  else if (r.headers !== undefined) m.headers = encodeHeaders(r.headers, r.headerBytes)
  if (r.partition !== undefined) m.partition = r.partition
  if (r.timestamp !== undefined) m.timestamp = BigInt(r.timestamp)
  return m
}

/**
 * K2's records as the messages kafkajs' producer sends (keys, values and raw header bytes as
 * Buffers), and the messages its consumer fetched as K2's records (headers as text, their bytes
 * beside: textBytes.ts).
 */
import type { IHeaders, KafkaMessage } from "kafkajs"
import { setEntry } from "../../domain/wire.ts"
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaHeaderBytes, KafkaHeaderEntry, KafkaHeaders, KafkaRecord } from "../../services/KafkaSource.ts"
import { foldHeaders, IN_ORDER, type KafkajsHeader } from "./kafkajsHeaders.ts"
import { sentHeaderBytes, toBuffer, withBytesBeside } from "./textBytes.ts"

/** Headers to send: the text, with these names' bytes in place of theirs. */
const withRawHeaders = (headers: KafkaHeaders, bytes: KafkaHeaderBytes): Record<string, string | Buffer> => {
  const out: Record<string, string | Buffer> = {}
  for (const k in headers) {
    const raw = sentHeaderBytes(bytes, k)
    setEntry(out, k, raw !== undefined ? toBuffer(raw) : headers[k]!)
  }
  return out
}

/** The value decodeHeaders kept for `name` (the last of that name), as bytes. */
export const rawHeader = (h: IHeaders | undefined, name: string): Uint8Array | undefined => {
  if (h === undefined || !Object.hasOwn(h, name)) return undefined
  const given = h[name]
  const v = Array.isArray(given) ? given[given.length - 1] : given
  return v === undefined || v === null ? undefined : typeof v === "string" ? Buffer.from(v, "utf8") : v
}

/**
 * Every header in order, when a name repeats: the fold (kafkajsHeaders.ts) keeps them for such a
 * record, values copied (the fetch's buffer is let go), a value of length -1 as none.
 */
export const headerListOf = (h: IHeaders | undefined): Array<KafkaHeaderEntry> | undefined => {
  const inOrder = (h as { [IN_ORDER]?: ReadonlyArray<KafkajsHeader> } | undefined)?.[IN_ORDER]
  return inOrder?.map(({ key, value }): KafkaHeaderEntry => [key, value === null ? new Uint8Array(0) : Uint8Array.from(value)])
}

export const decodeHeaders = (h: IHeaders | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (h === undefined) return out
  for (const k in h) {
    // kafkajs gives a repeated name all its values (the last wins, as in the other layers), and
    // a name it finds on Object.prototype ("constructor") as [the inherited member, its value].
    const given = h[k]
    const v = Array.isArray(given) ? given[given.length - 1] : given
    if (v === undefined) continue
    // A header without value (length -1) is null, read as "" as the other layers do.
    setEntry(out, k, v === null ? "" : String(v))
  }
  return out
}

/** A fetched batch's messages as K2's records. */
export const toRecords = (messages: ReadonlyArray<KafkaMessage>): Array<KafkaRecord> => {
  const n = messages.length
  const records: Array<KafkaRecord> = new Array(n)
  for (let i = 0; i < n; i++) {
    const m = messages[i]!
    const record = withBytesBeside({
      offset: BigInt(m.offset),
      key: m.key === null || m.key === undefined ? null : m.key.toString("utf8"),
      value: m.value,
      headers: decodeHeaders(m.headers),
      timestamp: Number(m.timestamp)
    }, m.key, m.headers, rawHeader)
    const headerList = headerListOf(m.headers)
    records[i] = headerList === undefined ? record : { ...record, headerList }
  }
  return records
}

interface KMessage {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer | Array<Buffer>>
  partition?: number
  timestamp?: string
}

export const toTopicMessages = (records: ReadonlyArray<ProducerRecord>) => {
  const byTopic = new Map<string, Array<KMessage>>()
  for (const r of records) {
    let list = byTopic.get(r.topic)
    if (list === undefined) byTopic.set(r.topic, (list = []))
    // Field by field: object spreads per record showed in produce profiles.
    const m: KMessage = {
      key: r.keyBytes === undefined ? r.key : toBuffer(r.keyBytes),
      value: r.value === null ? null : toBuffer(r.value)
    }
    if (r.headerList !== undefined) m.headers = foldHeaders(r.headerList.map(([key, value]) => ({ key, value: toBuffer(value) })))
    else if (r.headers !== undefined) m.headers = r.headerBytes === undefined ? r.headers as Record<string, string> : withRawHeaders(r.headers, r.headerBytes)
    if (r.partition !== undefined) m.partition = r.partition
    if (r.timestamp !== undefined) m.timestamp = String(r.timestamp)
    list.push(m)
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

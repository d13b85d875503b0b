/** A produced record as the in-memory broker holds it and a consumer reads it back. */
import { setEntry } from "../../domain/wire.ts"
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaHeaderEntry, KafkaRecord } from "../../services/KafkaSource.ts"
import { bytesBeside, fromHeaderList, mayHaveLostBytes, sentHeaderBytes, utf8Bytes, withBytesBeside } from "./textBytes.ts"

const utf8 = new TextEncoder()
const text = new TextDecoder()
/** A surrogate not in a pair (in `u` mode a pair is one code point, not Cs). */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * A produced key or header value's bytes where they matter: those given, or its text's when that
 * holds U+FFFD or a lone surrogate (which UTF-8 cannot hold: the clients send U+FFFD, and the
 * text read back is that); else undefined (plain text).
 */
const producedBytes = (given: Uint8Array | undefined, value: string | null): Uint8Array | undefined =>
  given ?? (value !== null && (mayHaveLostBytes(value) || LONE_SURROGATE.test(value)) ? utf8.encode(value) : undefined)

const producedHeaderBytes = (r: ProducerRecord, name: string) =>
  producedBytes(sentHeaderBytes(r.headerBytes, name), r.headers![name]!)

const wellFormedNames = (headers: Readonly<Record<string, string>> | undefined): boolean => {
  for (const name in headers) if (LONE_SURROGATE.test(name)) return false
  return true
}

/** Every header a record sends, in order, as a broker holds them (names as UTF-8 too: a lone surrogate as U+FFFD). */
const sentHeaderList = (r: ProducerRecord): Array<KafkaHeaderEntry> => {
  const list: Array<KafkaHeaderEntry> = []
  if (r.headerList !== undefined) {
    for (const [name, value] of r.headerList) list.push([utf8Bytes(name).toString("utf8"), Uint8Array.from(value)])
  } else {
    for (const name in r.headers) list.push([utf8Bytes(name).toString("utf8"), producedHeaderBytes(r, name) ?? utf8Bytes(r.headers[name]!)])
  }
  return list
}

/**
 * A produced record as a consumer reads it back: a broker keeps keys and header values as bytes,
 * decoded as text with the bytes beside text that may have lost some (textBytes.ts). Plain text
 * (the usual case) is kept as given, without encoding it. A record sent with every header
 * (`headerList`), or with a header name UTF-8 cannot hold, is read from its headers' bytes.
 */
export const readBack = (r: ProducerRecord, offset: bigint): KafkaRecord => {
  const rawKey = producedBytes(r.keyBytes, r.key)
  if (r.headerList !== undefined || !wellFormedNames(r.headers)) {
    const key = rawKey === undefined ? r.key : text.decode(rawKey)
    const keyBytes = key === null || rawKey === undefined ? undefined : bytesBeside(key, rawKey)
    return {
      offset,
      key,
      value: r.value === null ? null : Uint8Array.from(r.value),
      ...fromHeaderList(sentHeaderList(r)),
      ...(keyBytes === undefined ? {} : { keyBytes }),
      timestamp: r.timestamp ?? Date.now()
    }
  }
  const headers: Record<string, string> = {}
  for (const name in r.headers) {
    const raw = producedHeaderBytes(r, name)
    setEntry(headers, name, raw === undefined ? r.headers[name]! : text.decode(raw))
  }
  return withBytesBeside(
    {
      offset,
      key: rawKey === undefined ? r.key : text.decode(rawKey),
      value: r.value === null ? null : Uint8Array.from(r.value),
      headers,
      timestamp: r.timestamp ?? Date.now()
    },
    rawKey,
    r,
    producedHeaderBytes
  )
}

/** A produced record as the in-memory broker holds it and a consumer reads it back. */
import { setEntry } from "../../domain/wire.ts"
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaRecord } from "../../services/KafkaSource.ts"
import { mayHaveLostBytes, sentHeaderBytes, withBytesBeside } from "./textBytes.ts"

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

/**
 * A produced record as a consumer reads it back: a broker keeps keys and header values as bytes,
 * decoded as text with the bytes beside text that may have lost some (textBytes.ts). Plain text
 * (the usual case) is kept as given, without encoding it.
 */
export const readBack = (r: ProducerRecord, offset: bigint): KafkaRecord => {
  const rawKey = producedBytes(r.keyBytes, r.key)
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

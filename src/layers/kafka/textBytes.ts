/**
 * Kafka keys and header values are bytes; K2 reads them as UTF-8 text. Decoding puts U+FFFD in
 * place of bytes that are not UTF-8, so text holding it keeps its bytes beside it (a copy: the
 * fetch's buffer is let go). Text that holds U+FFFD as written keeps them too, harmlessly.
 */
import { setEntry } from "../../domain/wire.ts"
import type { KafkaHeaderBytes, KafkaHeaderEntry, KafkaRecord } from "../../services/KafkaSource.ts"

/** `u` as a Buffer, without copying: what the clients send. */
export const toBuffer = (u: Uint8Array): Buffer => Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)

/**
 * The bytes given for header `name` of a record to send, if any. Own entries only: a header named
 * "constructor" or "toString" is no key of the bytes.
 */
export const sentHeaderBytes = (bytes: KafkaHeaderBytes | undefined, name: string): Uint8Array | undefined =>
  bytes !== undefined && Object.hasOwn(bytes, name) ? bytes[name] : undefined

/** Whether `text`, decoded from bytes, may have lost some of them (it holds U+FFFD). */
export const mayHaveLostBytes = (text: string): boolean => text.includes("\ufffd")

/** `bytes`, copied, when `text` (their decoding) may have lost some; else undefined. */
export const bytesBeside = (text: string, bytes: Uint8Array): Uint8Array | undefined =>
  mayHaveLostBytes(text) ? Uint8Array.from(bytes) : undefined

/**
 * The bytes of the decoded header values holding U+FFFD (`rawOf` finds a name's value in the
 * client's `raw` headers, passed apart so that no closure is made per record); undefined when none do.
 */
export const headerBytesBeside = <H>(
  headers: Readonly<Record<string, string>>,
  raw: H,
  rawOf: (raw: H, name: string) => Uint8Array | undefined
): KafkaHeaderBytes | undefined => {
  let out: Record<string, Uint8Array> | undefined
  for (const name in headers) {
    if (!mayHaveLostBytes(headers[name]!)) continue
    const bytes = rawOf(raw, name)
    if (bytes !== undefined) setEntry(out ??= {}, name, Uint8Array.from(bytes))
  }
  return out
}

/** `record` with the bytes beside its key and header values that may not be text; itself when none. */
export const withBytesBeside = <H>(
  record: KafkaRecord,
  rawKey: Uint8Array | null | undefined,
  rawHeaders: H,
  rawHeader: (raw: H, name: string) => Uint8Array | undefined
): KafkaRecord => {
  const keyBytes = record.key === null || rawKey === null || rawKey === undefined ? undefined : bytesBeside(record.key, rawKey)
  const headerBytes = headerBytesBeside(record.headers, rawHeaders, rawHeader)
  if (keyBytes === undefined && headerBytes === undefined) return record
  return { ...record, ...(keyBytes === undefined ? {} : { keyBytes }), ...(headerBytes === undefined ? {} : { headerBytes }) }
}

/** `text` as the clients send it: UTF-8, a lone surrogate (which it cannot hold) as U+FFFD. */
export const utf8Bytes = (text: string): Buffer => Buffer.from(text, "utf8")

/**
 * A record's headers from every header in order (`headerList`): each name's last value as text,
 * the bytes beside those that may have lost some, and the list itself when a name repeats.
 */
export const fromHeaderList = (
  list: ReadonlyArray<KafkaHeaderEntry>
): Pick<KafkaRecord, "headers" | "headerBytes" | "headerList"> => {
  const headers: Record<string, string> = {}
  const last: Record<string, Uint8Array> = {}
  let repeated = false
  for (const [name, value] of list) {
    if (Object.hasOwn(headers, name)) repeated = true
    setEntry(headers, name, toBuffer(value).toString("utf8"))
    setEntry(last, name, value)
  }
  const headerBytes = headerBytesBeside(headers, last, (l, name) => l[name])
  return { headers, ...(headerBytes === undefined ? {} : { headerBytes }), ...(repeated ? { headerList: list } : {}) }
}

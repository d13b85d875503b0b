/** Value conversions between K2's manifest model and avsc's records, and the checks decoding makes. */

export type AvroKeyValue<V> = { readonly key: number; readonly value: V }

export const toBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
// Copies: decoded buffers are views into the inflated block.
export const copy = (buf: Buffer) => new Uint8Array(buf)

export const countsToAvro = (m: ReadonlyMap<number, number>) => [...m].map(([key, value]) => ({ key, value: BigInt(value) }))
export const countsFromAvro = (kvs: ReadonlyArray<AvroKeyValue<bigint>> | null) =>
  new Map((kvs ?? []).map(({ key, value }) => [key, Number(value)]))
export const boundsToAvro = (m: ReadonlyMap<number, Uint8Array>) => [...m].map(([key, value]) => ({ key, value: toBuffer(value) }))
export const boundsFromAvro = (kvs: ReadonlyArray<AvroKeyValue<Buffer>> | null) =>
  new Map((kvs ?? []).map(({ key, value }) => [key, copy(value)]))

export const oneOf = <T>(what: string, value: unknown, allowed: ReadonlyArray<T>): T => {
  const found = allowed.find((a) => a === value)
  if (found === undefined) throw new Error(`invalid ${what}: ${String(value)}`)
  return found
}

export const partitionValue = (name: string, v: unknown): number | null => {
  if (v === null || v === undefined) return null
  if (typeof v === "number") return v
  if (typeof v === "bigint" && Number.isSafeInteger(Number(v))) return Number(v)
  throw new Error(`unsupported value of partition field ${name}`)
}

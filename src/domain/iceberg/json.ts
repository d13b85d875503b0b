/**
 * Lossless JSON for Iceberg metadata: snapshot ids are 63-bit and sequence numbers
 * 64-bit, beyond what a JS number holds exactly. Integers outside the safe range,
 * and every value under a known 64-bit key, become `bigint`; `bigint` is written
 * back as a bare JSON number.
 */

const LONG_KEYS = new Set([
  "snapshot-id",
  "parent-snapshot-id",
  "current-snapshot-id",
  "sequence-number",
  "last-sequence-number"
])

const INTEGER = /^-?\d+$/

export const parseJson = (text: string): unknown =>
  JSON.parse(text, function (key, value, context?: { source?: string }) {
    const source = context?.source
    if (typeof value !== "number" || source === undefined || !INTEGER.test(source)) return value
    return LONG_KEYS.has(key) || !Number.isSafeInteger(value) ? BigInt(source) : value
  })

export const stringifyJson = (value: unknown, indent?: number): string =>
  JSON.stringify(
    value,
    (_key, v) => (typeof v === "bigint" ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString()) : v),
    indent
  )

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) as K2 carries it in Kafka record
 * headers: `traceparent` = `<version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
 * Pure; no I/O.
 */

export interface SpanContext {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/** Version 00, the only one this side writes. */
export const formatTraceparent = (context: SpanContext): string =>
  `00-${context.traceId.padStart(32, "0")}-${context.spanId}-${context.sampled ? "01" : "00"}`

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = "0".repeat(32)
const ZERO_SPAN = "0".repeat(16)

/**
 * The context of a `traceparent` value, or undefined when it is not one: malformed, all-zero
 * ids, version ff, or a version 00 value with trailing fields. Later versions are read by
 * their first four fields, as the spec asks.
 */
export const parseTraceparent = (value: string | undefined): SpanContext | undefined => {
  if (value === undefined) return undefined
  const m = TRACEPARENT.exec(value)
  if (m === null) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined]
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 }
}

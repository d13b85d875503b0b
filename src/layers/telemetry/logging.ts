/**
 * The programs' logger: one JSON object per line when stderr is not a terminal (for log
 * shippers), readable text on a terminal. Logs go to stderr: stdout carries the programs'
 * results (summaries, query output) and must stay parseable.
 *
 * A JSON line: `time`, `level`, `message`, `service`, then `correlation_id` when the log
 * annotations carry one, `trace_id`/`span_id` when logged inside a span, the other
 * annotations, `cause` on failures.
 *
 * K2_LOG_FORMAT=json|text overrides the detection; K2_LOG_LEVEL (Trace..Fatal, default Info)
 * sets the minimum level.
 */
import { Cause, Context, Layer, Logger, type LogLevel, References, Tracer } from "effect"

export type LogFormat = "json" | "text"

const levels: ReadonlyArray<LogLevel.LogLevel> = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"]

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((m) => typeof m === "string" ? m : m instanceof Error ? m.message : safeJson(m)).join(" ")
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v) ?? String(value)
  } catch {
    return String(value)
  }
}

const spanOf = (context: Context.Context<never>) => {
  const span = Context.getOption(context, Tracer.ParentSpan)
  return span._tag === "Some" ? span.value : undefined
}

/** The structured record of one log entry (exported for tests). */
export const record = (service: string, options: Logger.Options<unknown>): Record<string, unknown> => {
  const { fiber } = options
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  const out: Record<string, unknown> = {
    time: options.date.toISOString(),
    level: options.logLevel.toLowerCase(),
    message: messageText(options.message),
    service
  }
  const correlation = annotations["correlation_id"] ?? annotations["correlationId"]
  if (correlation !== undefined) out.correlation_id = correlation
  const span = spanOf(fiber.context)
  if (span !== undefined) {
    out.trace_id = span.traceId
    out.span_id = span.spanId
  }
  for (const [key, value] of Object.entries(annotations)) {
    if (key === "correlation_id" || key === "correlationId" || key in out) continue
    out[key] = value
  }
  if (options.cause.reasons.length > 0) out.cause = Cause.pretty(options.cause)
  return out
}

export const jsonLogger = (service: string, write: (line: string) => void = (l) => process.stderr.write(l)) =>
  Logger.make<unknown, void>((options) => {
    write(`${safeJson(record(service, options))}\n`)
  })

export const textLogger = (service: string, write: (line: string) => void = (l) => process.stderr.write(l)) =>
  Logger.make<unknown, void>((options) => {
    const r = record(service, options)
    const { time, level, message, service: _s, cause, ...rest } = r
    const extras = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : safeJson(v)}`).join(" ")
    const head = `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${message}`
    write(`${head}${extras.length > 0 ? ` ${extras}` : ""}\n${cause === undefined ? "" : `${String(cause)}\n`}`)
  })

export const formatFromEnv = (): LogFormat => {
  const forced = process.env["K2_LOG_FORMAT"]?.toLowerCase()
  if (forced === "json" || forced === "text") return forced
  return process.stderr.isTTY === true ? "text" : "json"
}

const levelFromEnv = (): LogLevel.LogLevel => {
  const wanted = process.env["K2_LOG_LEVEL"]?.toLowerCase()
  return levels.find((l) => l.toLowerCase() === wanted || (wanted === "warning" && l === "Warn")) ?? "Info"
}

/** The logger of a program (`service` is its name: ingest, serve, produce, compact...). */
export const loggingLayer = (service: string, options: { readonly format?: LogFormat; readonly write?: (line: string) => void } = {}) => {
  const format = options.format ?? formatFromEnv()
  const logger = format === "json" ? jsonLogger(service, options.write) : textLogger(service, options.write)
  return Layer.merge(
    Logger.layer([logger]),
    Layer.succeed(References.MinimumLogLevel, levelFromEnv())
  )
}

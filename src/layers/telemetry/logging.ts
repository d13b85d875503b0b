/**
 * The programs' logger: one JSON object per line when stderr is not a terminal (for log
 * shippers), readable text on a terminal. Logs go to stderr: stdout carries the programs'
 * results (summaries, query output) and must stay parseable.
 *
 * A JSON line: `time`, `level`, `message`, `service`, then `correlation_id` when the log
 * annotations carry one, `trace_id`/`span_id` when logged inside a span, the other
 * annotations, `cause` on failures.
 *
 * K2_LOG_FORMAT=json|text overrides the detection; K2_LOG_LEVEL (All, Trace..Fatal, None, in
 * any case, default Info) sets the minimum level, unless the CLI's `--log-level` is given (it
 * wins, as every flag over its variable). Another value of either is a ConfigError.
 */
import { Cause, Config, Context, Effect, Layer, Logger, type LogLevel, Option, References, Schema, Tracer } from "effect"
import { GlobalFlag } from "effect/cli"

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
const record = (service: string, options: Logger.Options<unknown>): Record<string, unknown> => {
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

const textLogger = (service: string, write: (line: string) => void = (l) => process.stderr.write(l)) =>
  Logger.make<unknown, void>((options) => {
    const r = record(service, options)
    const { time, level, message, service: _s, cause, ...rest } = r
    const extras = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : safeJson(v)}`).join(" ")
    const head = `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${message}`
    write(`${head}${extras.length > 0 ? ` ${extras}` : ""}\n${cause === undefined ? "" : `${String(cause)}\n`}`)
  })

/**
 * A setting that is one of `choices`, in any case; another value is a ConfigError naming the
 * variable and the choices (a typo once left the default on without a word).
 */
const oneOf = <A>(name: string, choices: Readonly<Record<string, A>>) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) =>
      Object.hasOwn(choices, s.toLowerCase()) || `${JSON.stringify(s)} is not one of ${Object.keys(choices).join(", ")}`
    )),
    name
  ).pipe(Config.map((s) => choices[s.toLowerCase()]!))

/** K2_LOG_FORMAT; unset, text on a terminal and JSON elsewhere. */
const formatConfig = oneOf<LogFormat>("K2_LOG_FORMAT", { json: "json", text: "text" }).pipe(
  Config.withDefault<LogFormat>(process.stderr.isTTY === true ? "text" : "json")
)

/** K2_LOG_LEVEL, an Effect level in any case or "warning"; unset, Info. */
const levelConfig = oneOf("K2_LOG_LEVEL", {
  ...Object.fromEntries(levels.map((l) => [l.toLowerCase(), l])),
  warning: "Warn"
} as Record<string, LogLevel.LogLevel>).pipe(Config.withDefault<LogLevel.LogLevel>("Info"))

/** The logger of a program (`service` is its name: ingest, serve, produce, compact...). */
export const loggingLayer = (service: string, options: { readonly format?: LogFormat; readonly write?: (line: string) => void } = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const format = options.format ?? (yield* formatConfig)
    const logger = format === "json" ? jsonLogger(service, options.write) : textLogger(service, options.write)
    // The CLI provides its --log-level around the command, beneath this layer: read here, or it is ignored.
    const flag = Option.flatten(yield* Effect.serviceOption(GlobalFlag.LogLevel))
    const level = Option.isSome(flag) ? flag.value : yield* levelConfig
    return Layer.merge(Logger.layer([logger]), Layer.succeed(References.MinimumLogLevel, level))
  }))

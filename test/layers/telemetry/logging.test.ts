/** The programs' logger: JSON lines off a terminal, text on one; correlation and trace ids. */
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, References } from "effect"
import { loggingLayer } from "../../../src/layers/telemetry/logging.ts"
import { configFromEnv } from "../../../src/layers/telemetry/tracing.ts"

/** K2's version as package.json says it. */
const PACKAGE_VERSION: string = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version

const capture = () => {
  const lines: Array<string> = []
  return { lines, write: (l: string) => void lines.push(l) }
}

describe("telemetry/logging", () => {
  it.effect("JSON: one object per line with time, level, message, service", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logInfo("hello", "world").pipe(Effect.provide(loggingLayer("ingest", { format: "json", write: out.write })))
      assert.strictEqual(out.lines.length, 1)
      assert.isTrue(out.lines[0]!.endsWith("\n"))
      const record = JSON.parse(out.lines[0]!)
      assert.strictEqual(record.level, "info")
      assert.strictEqual(record.message, "hello world")
      assert.strictEqual(record.service, "ingest")
      assert.isFalse(Number.isNaN(Date.parse(record.time)))
      assert.isUndefined(record.trace_id)
      assert.isUndefined(record.correlation_id)
    }))

  it.effect("JSON: correlation_id from the annotations, trace_id/span_id inside a span, cause on failure", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logWarning("slow").pipe(
        Effect.annotateLogs({ correlation_id: "c-123", table: "trades" }),
        Effect.withSpan("k2.test"),
        Effect.provide(loggingLayer("serve", { format: "json", write: out.write }))
      )
      yield* Effect.logError("boom", new Error("disk full")).pipe(
        Effect.provide(loggingLayer("serve", { format: "json", write: out.write }))
      )
      const [warn, error] = out.lines.map((l) => JSON.parse(l))
      assert.strictEqual(warn.level, "warn")
      assert.strictEqual(warn.correlation_id, "c-123")
      assert.strictEqual(warn.table, "trades")
      assert.match(warn.trace_id, /^[0-9a-f]{32}$/)
      assert.match(warn.span_id, /^[0-9a-f]{16}$/)
      assert.strictEqual(error.level, "error")
      assert.include(error.message, "boom")
    }))

  it.effect("text: a readable line, annotations as key=value", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logInfo("ready").pipe(
        Effect.annotateLogs({ correlation_id: "c-9" }),
        Effect.provide(loggingLayer("ingest", { format: "text", write: out.write }))
      )
      assert.match(out.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  ready correlation_id=c-9\n$/)
    }))

  it.effect("below the minimum level nothing is written", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logDebug("noise").pipe(Effect.provide(loggingLayer("ingest", { format: "json", write: out.write })))
      assert.deepStrictEqual(out.lines, [])
    }))
})

describe("telemetry/logging settings", () => {
  const withEnv = (env: Record<string, string>, options: Parameters<typeof loggingLayer>[1] = {}) =>
    loggingLayer("ingest", options).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

  it.effect("K2_LOG_LEVEL and K2_LOG_FORMAT take their values in any case, \"warning\" too", () =>
    Effect.gen(function*() {
      for (const [level, expected] of [["DEBUG", "Debug"], ["warning", "Warn"], ["Warn", "Warn"], ["none", "None"], ["all", "All"]] as const) {
        const minimum = yield* References.MinimumLogLevel.pipe(Effect.provide(withEnv({ K2_LOG_LEVEL: level })))
        assert.strictEqual(minimum, expected, level)
      }
      const out = capture()
      yield* Effect.logWarning("careful").pipe(Effect.provide(withEnv({ K2_LOG_FORMAT: "TEXT" }, { write: out.write })))
      assert.match(out.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  careful\n$/)
    }))

  it.effect("an unknown value is a ConfigError naming the variable and the values it takes (it was ignored)", () =>
    Effect.gen(function*() {
      const level = yield* Layer.build(withEnv({ K2_LOG_LEVEL: "verbose" })).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(level._tag, "ConfigError")
      assert.include(level.message, `"verbose" is not one of all, trace, debug, info, warn, error, fatal, none, warning`)
      assert.include(level.message, "K2_LOG_LEVEL")
      const format = yield* Layer.build(withEnv({ K2_LOG_FORMAT: "xml" })).pipe(Effect.scoped, Effect.flip)
      assert.include(format.message, `"xml" is not one of json, text`)
      assert.include(format.message, "K2_LOG_FORMAT")
    }))
})

describe("telemetry/tracing", () => {
  it("off without an endpoint; the standard variables configure it", () => {
    assert.isUndefined(configFromEnv("ingest", {}))
    assert.isUndefined(configFromEnv("ingest", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }))
    assert.isUndefined(configFromEnv("ingest", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }))
    const c = configFromEnv("ingest", {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20x,x-tenant=k2",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod"
    })
    assert.deepStrictEqual(c, {
      url: "http://collector:4318/v1/traces",
      headers: { authorization: "Bearer x", "x-tenant": "k2" },
      serviceName: "k2-ingest",
      serviceVersion: PACKAGE_VERSION,
      attributes: { "deployment.environment": "prod" },
      timeoutMs: 10_000
    })
    assert.strictEqual(
      configFromEnv("serve", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t/v1/traces", OTEL_SERVICE_NAME: "api" })?.url,
      "http://t/v1/traces"
    )
  })
})

describe("telemetry/tracing config, hostile values", () => {
  it("a malformed %-escape in OTEL_* lists skips that pair instead of crashing the program", () => {
    const c = configFromEnv("ingest", {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%zz,x-tenant=k2",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=100%,region=eu"
    })
    assert.deepStrictEqual(c?.headers, { "x-tenant": "k2" })
    assert.deepStrictEqual(c?.attributes, { region: "eu" })
  })

  it("service name: OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else k2-<program>", () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_RESOURCE_ATTRIBUTES: "service.name=ingest-eu" })?.serviceName, "ingest-eu")
    assert.strictEqual(
      configFromEnv("ingest", { ...base, OTEL_SERVICE_NAME: "k2-a", OTEL_RESOURCE_ATTRIBUTES: "service.name=ingest-eu" })?.serviceName,
      "k2-a"
    )
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_SERVICE_NAME: "" })?.serviceName, "k2-ingest")
    // Trimmed, as every other variable: an env file's trailing space made a second service in the
    // trace backend ("k2-a " beside "k2-a"), a blank one a service named " ".
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_SERVICE_NAME: "k2-a " })?.serviceName, "k2-a")
    assert.strictEqual(
      configFromEnv("ingest", { ...base, OTEL_SERVICE_NAME: " ", OTEL_RESOURCE_ATTRIBUTES: "service.name=ingest-eu" })?.serviceName,
      "ingest-eu"
    )
  })
})

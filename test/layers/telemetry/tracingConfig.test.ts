/** OTLP settings from the standard variables: precedence, values ignored, and what reaches the collector. */
import { createServer, type IncomingHttpHeaders } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import { OtlpExporter } from "effect/observability"
import { configFromEnv, tracingLayer } from "../../../src/layers/telemetry/tracing.ts"
import { listening } from "../../support/httpServer.ts"

const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }

describe("telemetry/tracing settings", () => {
  it("exporters other than otlp leave tracing off", () => {
    assert.isUndefined(configFromEnv("ingest", { ...base, OTEL_TRACES_EXPORTER: "zipkin" }))
    assert.isDefined(configFromEnv("ingest", { ...base, OTEL_TRACES_EXPORTER: "console, OTLP" }))
  })

  it("headers: the traces-specific list wins a name both give; a pair without a name is skipped", () => {
    const c = configFromEnv("ingest", {
      ...base,
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=general,=orphan,x-tenant=k2",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "authorization=traces"
    })
    assert.deepStrictEqual(c?.headers, { authorization: "traces", "x-tenant": "k2" })
  })

  it.effect("OTEL_SDK_DISABLED=true padded with spaces (an env file's, a YAML value's) turns tracing off, as its warning check took it", () =>
    Effect.gen(function*() {
      for (const value of ["true ", " TRUE", "\ttrue\n"]) {
        const env = { ...base, OTEL_SDK_DISABLED: value }
        assert.isUndefined(configFromEnv("ingest", env), JSON.stringify(value))
        const logged: Array<string> = []
        const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
        const context = yield* Layer.build(tracingLayer("ingest", env)).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
        // Before: exported, with no warning (the check trimmed the value, the setting did not).
        assert.isUndefined(Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher), JSON.stringify(value))
        assert.deepStrictEqual(logged, [], JSON.stringify(value))
      }
    }))

  it.effect("OTEL_EXPORTER_OTLP_PROTOCOL=grpc padded with spaces is warned about and not exported to, as grpc is", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const env = { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc " }
      const context = yield* Layer.build(tracingLayer("ingest", env)).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
      // Before: JSON sent to the collector's gRPC port, every export failing at debug level only.
      assert.isUndefined(Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher))
      assert.strictEqual(logged.length, 1, logged.join("\n"))
      assert.include(logged[0], "OTEL_EXPORTER_OTLP_PROTOCOL")
    }))

  it.effect("a traces-specific setting of spaces only is unset: the general one is in effect", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const env = { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "  " }
      const context = yield* Layer.build(tracingLayer("ingest", env)).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
      // Before: the blank traces-specific value hid grpc, and JSON went to the gRPC port.
      assert.isUndefined(Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher))
      assert.include(logged.join("\n"), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
      assert.strictEqual(
        configFromEnv("ingest", { ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: " " })?.url,
        "http://c:4318/v1/traces"
      )
    }))

  it("a timeout of 0 is no timeout K2 takes: the default", () => {
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_EXPORTER_OTLP_TIMEOUT: "0" })?.timeoutMs, 10_000)
  })

  it.effect("an http URL without a host, or grpc in capitals, is warned about and not exported to", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      for (const env of [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http:///v1" }, { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: "GRPC" }]) {
        const context = yield* Layer.build(tracingLayer("ingest", env)).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
        assert.isUndefined(Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher), JSON.stringify(env))
      }
      assert.strictEqual(logged.length, 2)
    }))

  it.effect("a value K2 cannot take is warned about, naming the variable (it was ignored without a word)", () =>
    Effect.gen(function*() {
      const build = (env: NodeJS.ProcessEnv) =>
        Effect.gen(function*() {
          const logged: Array<string> = []
          const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
          const context = yield* Layer.build(tracingLayer("ingest", env)).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
          const exporting = Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher) !== undefined
          return { logged, exporting }
        })
      // An exporter K2 does not have: off, as before, but said.
      const jaeger = yield* build({ ...base, OTEL_TRACES_EXPORTER: "jaeger" })
      assert.isFalse(jaeger.exporting)
      assert.strictEqual(jaeger.logged.length, 1, jaeger.logged.join("\n"))
      assert.include(jaeger.logged[0], "OTEL_TRACES_EXPORTER")
      assert.include(jaeger.logged[0], "jaeger")
      assert.include(jaeger.logged[0], "traces are not exported")
      // Beside otlp: otlp exports, the other is named.
      const console = yield* build({ ...base, OTEL_TRACES_EXPORTER: "console,otlp" })
      assert.isTrue(console.exporting)
      assert.strictEqual(console.logged.length, 1, console.logged.join("\n"))
      assert.include(console.logged[0], "console")
      assert.include(console.logged[0], "exporting otlp alone")
      // A timeout in another unit: the default, said.
      for (const name of ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"]) {
        const timeout = yield* build({ ...base, [name]: "5s" })
        assert.isTrue(timeout.exporting)
        assert.strictEqual(timeout.logged.length, 1, timeout.logged.join("\n"))
        assert.include(timeout.logged[0], `${name}=5s`)
      }
      // Only "true" disables (the spec's boolean): "1" leaves tracing on, said.
      const disabled = yield* build({ ...base, OTEL_SDK_DISABLED: "1" })
      assert.isTrue(disabled.exporting)
      assert.strictEqual(disabled.logged.length, 1, disabled.logged.join("\n"))
      assert.include(disabled.logged[0], "OTEL_SDK_DISABLED=1")
      // Values K2 takes say nothing.
      for (const env of [
        base,
        { ...base, OTEL_TRACES_EXPORTER: "none" },
        { ...base, OTEL_TRACES_EXPORTER: " OTLP " },
        { ...base, OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_TIMEOUT: "2500", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "" },
        // The traces timeout, valid, is the one read: the general one, whatever it says, is not.
        { ...base, OTEL_EXPORTER_OTLP_TIMEOUT: "5s", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "2500" },
        { OTEL_SDK_DISABLED: "TRUE", OTEL_TRACES_EXPORTER: "jaeger" },
        // Not exporting: a timeout is not read.
        { OTEL_EXPORTER_OTLP_TIMEOUT: "5s" }
      ]) {
        const quiet = yield* build(env)
        assert.deepStrictEqual(quiet.logged, [], JSON.stringify(env))
      }
    }))

  it.live("the configured headers go out with each export", () =>
    Effect.scoped(Effect.gen(function*() {
      const received: Array<IncomingHttpHeaders> = []
      const collector = createServer((req, res) => {
        received.push(req.headers)
        req.resume()
        req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"))
      })
      const port = yield* listening(collector)
      yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Effect.withSpan("k2.test.span"))
        yield* (yield* OtlpExporter.Flusher).flush
      }).pipe(Effect.provide(tracingLayer("ingest", {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: "authorization=Bearer%20k2"
      }) as Layer.Layer<OtlpExporter.Flusher>))
      assert.isAtLeast(received.length, 1)
      assert.strictEqual(received[0]!.authorization, "Bearer k2")
    })), 30_000)
})

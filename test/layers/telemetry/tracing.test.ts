/** OTLP export against a misbehaving collector: the program's spans never wait on it for long. */
import { createServer } from "node:http"
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Option } from "effect"
import { OtlpExporter } from "effect/observability"
import { configFromEnv, tracingLayer } from "../../../src/layers/telemetry/tracing.ts"
import { listening } from "../../support/httpServer.ts"

/** K2's version as package.json says it. */
const PACKAGE_VERSION: string = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version

describe("telemetry/tracing export", () => {
  it("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT (ms), else the spec's 10 s", () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    assert.strictEqual(configFromEnv("ingest", base)?.timeoutMs, 10_000)
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_EXPORTER_OTLP_TIMEOUT: "2500" })?.timeoutMs, 2500)
    assert.strictEqual(
      configFromEnv("ingest", { ...base, OTEL_EXPORTER_OTLP_TIMEOUT: "2500", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "700" })?.timeoutMs,
      700
    )
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_EXPORTER_OTLP_TIMEOUT: "soon" })?.timeoutMs, 10_000)
  })

  it("OTEL_TRACES_EXPORTER set but empty is unset (the spec's rule, as for the other variables): otlp, not off", () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_TRACES_EXPORTER: "" })?.url, "http://c:4318/v1/traces")
    assert.strictEqual(configFromEnv("ingest", { ...base, OTEL_TRACES_EXPORTER: " " })?.url, "http://c:4318/v1/traces")
    assert.isUndefined(configFromEnv("ingest", { ...base, OTEL_TRACES_EXPORTER: "none" }))
  })

  it("service.version: from OTEL_RESOURCE_ATTRIBUTES when set there, else K2's version", () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
    assert.strictEqual(configFromEnv("ingest", base)?.serviceVersion, PACKAGE_VERSION)
    assert.strictEqual(
      configFromEnv("ingest", { ...base, OTEL_RESOURCE_ATTRIBUTES: "service.version=2026.12.1-abc,region=eu" })?.serviceVersion,
      "2026.12.1-abc"
    )
  })

  it.effect("an endpoint that is not an http(s) URL: a warning naming it, no exporter (its failures were silent)", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      for (const endpoint of ["collector:4318", "localhost:4318", "ftp://c/x", "http//c:4318"]) {
        const context = yield* Layer.build(tracingLayer("ingest", { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })).pipe(
          Effect.provide(Logger.layer([capture])),
          Effect.scoped
        )
        assert.isUndefined(Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher), endpoint)
      }
      assert.strictEqual(logged.length, 4)
      assert.include(logged[0], "collector:4318/v1/traces")
      assert.include(logged[0], "OTEL_EXPORTER_OTLP_ENDPOINT")
      const traces = yield* Layer.build(tracingLayer("ingest", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "c:4318" })).pipe(
        Effect.provide(Logger.layer([capture])),
        Effect.scoped
      )
      assert.isUndefined(Context.getOrUndefined(traces as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher))
      assert.include(logged[4], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    }))

  it.effect("OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL=grpc: a warning that only OTLP/HTTP is spoken, no exporter", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const build = (env: NodeJS.ProcessEnv) =>
        Layer.build(tracingLayer("ingest", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", ...env })).pipe(
          Effect.provide(Logger.layer([capture])),
          Effect.scoped,
          Effect.map((context) => Context.getOrUndefined(context as Context.Context<OtlpExporter.Flusher>, OtlpExporter.Flusher))
        )
      assert.isUndefined(yield* build({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }))
      assert.isUndefined(yield* build({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" }))
      assert.strictEqual(logged.length, 2)
      assert.include(logged[0], "OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
      assert.include(logged[1], "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc")
      // The collector's HTTP port takes JSON as well as protobuf.
      assert.isDefined(yield* build({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" }))
      assert.isDefined(yield* build({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json" }))
      assert.strictEqual(logged.length, 2)
    }))

  it.live("a collector that accepts but never answers: each export is abandoned after the timeout", () =>
    Effect.scoped(Effect.gen(function*() {
      let received = 0
      let aborted = 0
      const collector = createServer((req) => {
        received++
        req.resume()
        req.socket.once("close", () => void aborted++)
      })
      const port = yield* listening(collector)
      const flushed = yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Effect.withSpan("k2.test.span"))
        const flusher = yield* OtlpExporter.Flusher
        return yield* flusher.flush.pipe(Effect.timeoutOption("15 seconds"))
      }).pipe(Effect.provide(tracingLayer("ingest", {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "100"
      }) as Layer.Layer<OtlpExporter.Flusher>))
      assert.isTrue(Option.isSome(flushed), "the flush ends instead of waiting on the collector")
      assert.isAtLeast(received, 1)
      // The client's abort reaches the collector's socket a moment later.
      yield* Effect.sleep("20 millis").pipe(Effect.repeat({ until: () => aborted === received }), Effect.timeoutOption("2 seconds"))
      assert.strictEqual(aborted, received, "every request the collector held was given up")
    })), 30_000)
})

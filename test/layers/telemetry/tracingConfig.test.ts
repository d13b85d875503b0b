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

/**
 * An OTLP endpoint with user info (`https://user:token@collector`): fetch refuses a URL holding
 * credentials, with an error that echoes it (logged by the exporter at debug level on every
 * attempt), so no span was ever exported and the token reached the logs. The user info is sent
 * as Basic authorization instead, and never shown.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { configFromEnv, tracingLayer } from "../../../src/layers/telemetry/tracing.ts"

describe("telemetry/tracing: an endpoint with credentials", () => {
  it("sends them as Basic authorization, from a URL without them", () => {
    const c = configFromEnv("serve", { OTEL_EXPORTER_OTLP_ENDPOINT: "https://k2%40acme:s3cr%3At@otlp.example:4318/" })
    assert.strictEqual(c?.url, "https://otlp.example:4318/v1/traces")
    assert.strictEqual(c?.headers["authorization"], `Basic ${Buffer.from("k2@acme:s3cr:t").toString("base64")}`)
    assert.isTrue(URL.canParse(c!.url) && new URL(c!.url).password === "")
  })

  it("an authorization header given wins, and the URL still goes without the credentials", () => {
    const c = configFromEnv("serve", {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://u:p@c:4318/v1/traces",
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer abc"
    })
    assert.strictEqual(c?.url, "http://c:4318/v1/traces")
    assert.deepStrictEqual(c?.headers, { Authorization: "Bearer abc" })
  })

  it.effect("a warning about an endpoint that is no http URL does not show its password", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      yield* Layer.build(tracingLayer("serve", { OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://u:s3cret@c:4317" })).pipe(Effect.provide(Logger.layer([capture])), Effect.scoped)
      assert.strictEqual(logged.length, 1)
      assert.notInclude(logged[0], "s3cret")
      assert.include(logged[0], "grpc://***@c:4317")
    }))

  // fetch refuses such a value on every export, and its error, logged by the exporter at debug
  // level, echoed the value whole: the token in `Authorization=Bearer ...` reached the logs.
  it.effect("a header value with a line break is not sent: a warning names the header, not its value", () =>
    Effect.gen(function*() {
      for (
        const [env, from] of [
          [{ OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%0As3cret" }, "OTEL_EXPORTER_OTLP_HEADERS"],
          [{ OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=s3cret%E2%80%99" }, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
        ] as const
      ) {
        const logged: Array<string> = []
        const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
        yield* Layer.build(tracingLayer("serve", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", ...env })).pipe(
          Effect.provide(Logger.layer([capture])),
          Effect.scoped
        )
        assert.strictEqual(logged.length, 1, from)
        assert.include(logged[0], "traces are not exported")
        assert.include(logged[0], from)
        assert.notInclude(logged[0], "s3cret")
      }
    }))
})

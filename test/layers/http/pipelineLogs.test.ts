/**
 * The log lines of a request carry its correlation id in `correlation_id`: what an operator
 * searches by, given the id from a client's 500 (docs/operations.md, K2Serve5xxRatio).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { HttpServerRequest } from "effect/http"
import { defaults } from "../../../src/layers/http/config.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { jsonLogger } from "../../../src/layers/telemetry/logging.ts"

describe("the pipeline's logs", () => {
  it.effect("an unhandled failure is logged with the request's correlation id", () =>
    Effect.gen(function*() {
      const records: Array<Record<string, unknown>> = []
      const logger = jsonLogger("serve", (line) => void records.push(JSON.parse(line) as Record<string, unknown>))
      const request = HttpServerRequest.fromWeb(new Request("http://k2/health", { headers: { "x-correlation-id": "c-500" } }))
      const app = pipeline({ ...defaults, keys: [], auth: "off", warehouse: "" })(Effect.die(new Error("boom")))
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, request),
        Effect.provide(Logger.layer([logger]))
      )
      assert.strictEqual(response.status, 500)
      const line = records.find((r) => r.message === "unhandled failure")
      assert.isDefined(line, JSON.stringify(records))
      assert.strictEqual(line!.correlation_id, "c-500", JSON.stringify(line))
      assert.include(String(line!.cause), "boom", JSON.stringify(line))
    }))
})

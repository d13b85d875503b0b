import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import * as Server from "../../../src/layers/http/server.ts"

describe("node server", () => {
  it.live("a request that arrives after it listens, before the app is attached, is answered once it is", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const url = HttpServer.formatAddress(server.address).replace(/\/$/, "")
      const early = fetch(`${url}/health`).then((r) => r.text())
      yield* Effect.sleep("200 millis")
      yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.text("ready")))
      assert.strictEqual(yield* Effect.promise(() => early), "ready")
      assert.strictEqual(yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.text())), "ready")
    })).pipe(Effect.provide(Server.nodeServer({ port: 0, host: "127.0.0.1" }))))
})

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

describe("RateLimiter", () => {
  it("many clients in one window are all counted, and their windows dropped once a new one begins", () => {
    // Past 100,000 windows every new key swept the whole map, even when none was stale (30,000
    // more clients took 24 s); now once a window. The time itself is not asserted here.
    const limiter = new Server.RateLimiter(10, 60)
    for (let i = 0; i < 130_000; i++) limiter.hit(`addr:${i}`, 1_000)
    assert.strictEqual(limiter.size, 130_000)
    assert.isFalse([...Array(11)].map(() => limiter.hit("addr:7", 1_000)).at(-1)!.allowed)
    for (let i = 0; i < 10; i++) limiter.hit(`addr:new-${i}`, 61_000)
    assert.isBelow(limiter.size, 1_000)
  })
})

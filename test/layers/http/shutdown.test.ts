/**
 * `serve` stopping (SIGTERM): requests in flight get a short grace, then are cut. A replay (SSE or
 * NDJSON, paced for hours) or a CSV export never ends within any grace, and the platform's default
 * of 20 s kept the process past `docker stop`'s 10 s (then SIGKILL: its temp files left behind).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import { TestClock } from "effect/testing"
import * as Server from "../../../src/layers/http/server.ts"

/** Real time, for the sockets' I/O: the test clock moves only Effect's timers. */
const io = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

describe("node server: stopping", () => {
  it.effect("a response that streams without end holds the stop no longer than the shutdown grace", () =>
    Effect.gen(function*() {
      let reading: Promise<unknown> | undefined
      // The server's scope closes once the stream's head has arrived: its stop then waits on the stream.
      const stopping = yield* Effect.forkChild(
        Effect.scoped(Effect.gen(function*() {
          const server = yield* HttpServer.HttpServer
          const url = HttpServer.formatAddress(server.address).replace(/\/$/, "")
          yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.stream(Stream.concat(Stream.make(new TextEncoder().encode(": keep-alive\n\n")), Stream.never))))
          const res = yield* Effect.promise(() => fetch(`${url}/v1/replay`))
          // Read on (never cancelled: a client that leaves would end the stream itself).
          reading = res.arrayBuffer().catch(() => undefined)
        })).pipe(Effect.provide(Server.nodeServer({ port: 0, host: "127.0.0.1" })))
      )
      yield* io(300)
      yield* TestClock.adjust("5 seconds")
      // Cut once the grace is over: the stream ends, the connection closes, the server stops.
      const outcome = yield* Effect.raceFirst(Effect.as(Fiber.await(stopping), "stopped"), Effect.as(io(10_000), "still stopping"))
      // Not stopped: let the longer grace pass, so that the test ends (and fails) rather than hangs.
      if (outcome !== "stopped") yield* TestClock.adjust("1 minute")
      yield* Fiber.await(stopping)
      yield* Effect.promise(() => reading ?? Promise.resolve())
      assert.strictEqual(outcome, "stopped")
    }))
})

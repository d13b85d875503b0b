/**
 * A paced SSE replay can go quiet for hours (overnight at speed 1): a comment line every interval
 * keeps proxies from closing it as idle, and the stream still ends when the replay does.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { withKeepAlive } from "../../../src/layers/http/replayRoute.ts"

describe("SSE keep-alive", () => {
  it.effect("a comment every interval while nothing else is sent; the stream ends with the replay's", () =>
    Effect.gen(function*() {
      // Two events an hour apart, then the end.
      const replay = Stream.make("event: trade\ndata: {}\n\n").pipe(
        Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep("1 hour"), "event: trade\ndata: {}\n\n"))),
        Stream.concat(Stream.make("event: end\ndata: {}\n\n"))
      )
      const fiber = yield* Effect.forkChild(Stream.runCollect(withKeepAlive(replay, "15 seconds")), { startImmediately: true })
      for (let minute = 0; minute < 61; minute++) yield* TestClock.adjust("1 minute")
      const sent = yield* Fiber.join(fiber)
      const comments = sent.filter((s) => s === ": keep-alive\n\n").length
      assert.isAtLeast(comments, 239)
      assert.isAtMost(comments, 241)
      assert.deepStrictEqual(sent.filter((s) => !s.startsWith(":")), ["event: trade\ndata: {}\n\n", "event: trade\ndata: {}\n\n", "event: end\ndata: {}\n\n"])
      assert.strictEqual(sent.at(-1), "event: end\ndata: {}\n\n")
    }))
})

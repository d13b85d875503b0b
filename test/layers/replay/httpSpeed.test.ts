/**
 * `speed` over HTTP is read as the engine paces: any plain decimal above 0 and at most 1000000
 * (parsePositiveNumber). The query schema cut it at 16 characters, so a slow speed the parser
 * takes (1e-15) was refused, and a speed past the maximum was told its length, not its range.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

layer(served(testOptions()), { timeout: 120_000, excludeTestServices: true })("GET /v1/replay speed", (it) => {
  it.effect("takes every speed the parser takes, and refuses one past the maximum by its range", () =>
    Effect.gen(function*() {
      const replay = `${yield* baseUrl}/v1/replay?from=${iso(T0)}&to=${iso(T0 + DAY)}&symbols=NOPE&format=sse`
      const slow = yield* get(`${replay}&speed=0.000000000000001`, auth(KEYS.full))
      const body = yield* Effect.promise(() => slow.text())
      assert.strictEqual(slow.status, 200, body)
      assert.include(body, "event: end")
      const fast = yield* get(`${replay}&speed=1000000.000000001`, auth(KEYS.full))
      assert.strictEqual(fast.status, 400)
      assert.include(yield* Effect.promise(() => fast.text()), "is not above 0 and at most 1000000")
    }))
})

/**
 * The SQL sandbox's two slots (POST /v1/sql and Parquet exports) are shared by every caller: one
 * key sending many slow statements at once filled the line of waiting requests, so every other
 * key's statement waited behind all of them and was answered 503 sql_busy, for as long as the one
 * key kept sending (well within the rate limit). A caller may have at most three runs running or
 * waiting; past that its statement is sql_busy at once, and the others keep their turn.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sha256Hex } from "../../../src/layers/http/config.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const OTHER = "other-sql-key-4"
// Slots enough for the whole flood (every SQL answer takes a streaming slot too): the sandbox's own limits are what is tested.
const options = testOptions({ sqlTimeoutMs: 3_000, maxStreamsPerKey: 10 })
const withOther = { ...options, keys: [...options.keys, { name: "other", sha256: sha256Hex(OTHER), scopes: new Set(["sql"] as const) }] }

const post = (base: string, key: string, sql: string) =>
  fetch(`${base}/v1/sql`, { method: "POST", headers: { ...auth(key), "content-type": "application/json" }, body: JSON.stringify({ sql }) })
    .then(async (r) => ({ status: r.status, body: JSON.parse(await r.text()) as { code?: string; detail?: string; data?: unknown } }))

layer(served(withOther, undefined, { trades: 50, quotes: 50 }), { timeout: 120_000, excludeTestServices: true })("POST /v1/sql, one caller among others", (it) => {
  it.effect("a key flooding the sandbox does not keep another key's statement out: past three runs of its own it is sql_busy at once", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      // Idle workers for both slots, so each run's clock starts as its slot is taken.
      yield* Effect.promise(() => Promise.all([post(base, KEYS.full, "SELECT 1"), post(base, KEYS.full, "SELECT 1")]))
      // Each runs to the 3 s limit; the two slots free at ~3 s, and a request may wait ~5 s for one.
      const slow = "SELECT count(*) FROM range(100000000000) a"
      const flood = Promise.all(Array.from({ length: 8 }, () => post(base, KEYS.full, slow)))
      // The other key arrives once the flood is in line: behind its six waiting statements it waited
      // for three rounds of runs, past its 5 s; behind one, it runs in the second round.
      const other = yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)).then(() => post(base, OTHER, "SELECT 42 AS n")))
      const flooded = yield* Effect.promise(() => flood)
      assert.deepStrictEqual([other.status, other.body.data ?? other.body.code], [200, [{ n: 42 }]])
      const codes = flooded.map((a) => a.body.code)
      // The flooding key's own runs: two in the slots, one waiting, the rest refused at once.
      assert.strictEqual(codes.filter((c) => c === "query_timeout").length, 3, JSON.stringify(codes))
      const busy = flooded.filter((a) => a.body.code === "sql_busy")
      assert.strictEqual(busy.length, 5, JSON.stringify(codes))
      for (const b of busy) assert.include(b.body.detail, "this caller")
    }))
})

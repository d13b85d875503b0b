/** The SQL sandbox on its own: the answer is bounded in bytes as well as in rows. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSandboxed } from "../../../src/layers/http/sql.ts"

const run = (sql: string, limits: { maxRows?: number; maxBytes?: number } = {}) =>
  runSandboxed({ sql, tables: [], maxRows: limits.maxRows ?? 100_000, timeoutMs: 30_000, ...(limits.maxBytes === undefined ? {} : { maxBytes: limits.maxBytes }) })

describe("SQL sandbox limits", () => {
  it.effect("rows: cut at the limit, and says so", () =>
    Effect.gen(function*() {
      const whole = yield* run("SELECT * FROM range(5)", { maxRows: 5 })
      assert.strictEqual(whole.rows.length, 5)
      assert.isNull(whole.truncatedBy)
      const cut = yield* run("SELECT * FROM range(6)", { maxRows: 5 })
      assert.strictEqual(cut.rows.length, 5)
      assert.strictEqual(cut.truncatedBy, "rows")
    }))

  it.effect("bytes: fetching stops once the converted rows pass the budget", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT i, repeat('x', 1000) AS s FROM range(100) t(i)", { maxBytes: 10_000 })
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 8)
      assert.isAtMost(JSON.stringify(r.rows).length, 10_000)
      // The kept rows are the first ones, whole.
      assert.deepStrictEqual(r.rows.map((row) => row["i"]), r.rows.map((_, i) => String(i)))
      assert.strictEqual((r.rows[0]!["s"] as string).length, 1000)
    }))

  it.effect("bytes: a single row larger than the whole budget is not kept", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT 1 AS n, repeat('x', 100000) AS s", { maxBytes: 10_000 })
      assert.deepStrictEqual([r.rows.length, r.truncatedBy], [0, "bytes"])
    }))

  it.effect("bytes: the default budget (32 MiB) holds back 100 strings of 1 MB", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT repeat('x', 1000000) AS s FROM range(100)")
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 30)
      assert.isBelow(r.rows.length, 34)
    }))
})

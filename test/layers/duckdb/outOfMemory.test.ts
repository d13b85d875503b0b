/**
 * A statement past DuckDB's memory limit (K2_DUCKDB_MEMORY_LIMIT) is the server's limit met, not a
 * fault in K2: a typed DuckDbError of reason `OutOfMemory`, answered 503 `out_of_memory` saying what
 * to do (it was a bare 500 "internal error"), and its connection serves the next statement.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { problemOf } from "../../support/problems.ts"

/** More than 20 MB held at once: a list per group cannot spill. */
const HUNGRY = "SELECT i % 1000000 AS k, list(i) FROM range(5000000) t(i) GROUP BY k ORDER BY k LIMIT 1"

describe("DuckDb out of memory", () => {
  it.effect("is a DuckDbError of reason OutOfMemory, answered 503 out_of_memory, and the connection still serves", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const error = yield* duckDb.withConnection((c) => query(c, "bars", HUNGRY)).pipe(Effect.flip)
      assert.strictEqual(error._tag, "DuckDbError")
      assert.strictEqual(error.reason, "OutOfMemory")
      const problem = yield* problemOf(error)
      assert.strictEqual(problem.status, 503)
      assert.strictEqual(problem.code, "out_of_memory")
      assert.match(problem.detail, /memory/)
      const rows = yield* duckDb.withConnection((c) => query(c, "probe", "SELECT 41 + 1 AS n"))
      assert.strictEqual(rows[0]?.["n"], 42)
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1, threads: 1, memoryLimit: "20MB" }))))
})

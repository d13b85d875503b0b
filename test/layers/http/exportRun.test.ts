/**
 * A trades/quotes Parquet export's sandbox run (ADR-104): a file of `maxRows` rows is checked for
 * more by counting `countSql`, the rows without their order (counting the ordered statement sorted
 * them all a second time, a fifth of a 5,000,000-row export's time).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tables } from "../../../src/domain/tables.ts"
import { runInThisProcess } from "../../../src/layers/http/sandboxRun.ts"
import type { SandboxRequest } from "../../../src/layers/http/sql.ts"
import { readParquet } from "../../support/parquet.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-export-run-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** The run's Parquet file read back, and whether it was said to be cut. */
const parquetRun = (request: Omit<SandboxRequest, "tables" | "timeoutMs" | "parquetOut">) =>
  Effect.gen(function*() {
    const out = path.join(dir, `${Math.random().toString(36).slice(2)}.parquet`)
    const result = yield* runInThisProcess({ ...request, tables: [{ name: "trades", schema: tables.trades.schema, files: [] }], timeoutMs: 30_000, parquetOut: out })
    const { rows } = yield* readParquet(fs.readFileSync(out))
    return { rows, truncatedBy: result.truncatedBy }
  })

describe("a Parquet export's sandbox run", () => {
  it.effect("counts the rows past its limit from countSql when given", () =>
    Effect.gen(function*() {
      const sql = "SELECT * FROM (VALUES (2), (1), (3)) AS t(x) ORDER BY x"
      const cut = yield* parquetRun({ sql, maxRows: 2, countSql: "SELECT * FROM (VALUES (2), (1), (3)) AS t(x)" })
      assert.deepStrictEqual(cut, { rows: [{ x: 1 }, { x: 2 }], truncatedBy: "rows" })
      // A countSql of no more rows than the file: whole. Counted from it, not from `sql`.
      const whole = yield* parquetRun({ sql, maxRows: 2, countSql: "SELECT * FROM (VALUES (2), (1)) AS t(x)" })
      assert.deepStrictEqual(whole, { rows: [{ x: 1 }, { x: 2 }], truncatedBy: null })
    }))

  // A whole-range export past its cap is refused (too_many_rows): written first, its refusal came after
  // every row of it was sorted and written to a temp file (minutes of a 2-core sandbox, up to 2 GiB).
  it.effect("with countFirst, counts before it writes: past its limit it writes no file", () =>
    Effect.gen(function*() {
      const out = path.join(dir, "refused.parquet")
      const sql = "SELECT * FROM (VALUES (2), (1), (3)) AS t(x) ORDER BY x"
      const countSql = "SELECT * FROM (VALUES (2), (1), (3)) AS t(x)"
      const over = yield* runInThisProcess({ sql, countSql, countFirst: true, maxRows: 2, tables: [{ name: "trades", schema: tables.trades.schema, files: [] }], timeoutMs: 30_000, parquetOut: out })
      assert.strictEqual(over.truncatedBy, "rows")
      assert.isFalse(fs.existsSync(out))
      // Within its limit (at it too): the whole file, as without countFirst.
      for (const maxRows of [3, 4]) {
        const whole = yield* parquetRun({ sql, countSql, countFirst: true, maxRows })
        assert.deepStrictEqual(whole, { rows: [{ x: 1 }, { x: 2 }, { x: 3 }], truncatedBy: null })
      }
    }))
})

import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { formatFixed } from "../../../src/domain/query/exact.ts"
import { attempt, DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { cellReader, piecesReader, readChunks, readRows } from "../../../src/layers/duckdb/results.ts"
import { pieces } from "../../../src/layers/query/sql.ts"

const read = (sql: string, values: ReadonlyArray<string | number | bigint> = []) =>
  Effect.flatMap(DuckDb, (duckDb) => duckDb.withConnection((c) => attempt("test", () => readRows(c, sql, values))))

layer(DuckDb.layerWith({ connections: 1 }))("readRows", (it) => {
  it.effect("gives decimals of every width exactly, as DuckDB's own text of them", () =>
    Effect.gen(function*() {
      const casts = ["DECIMAL(4, 2)", "DECIMAL(9, 3)", "DECIMAL(18, 8)", "DECIMAL(38, 16)", "DECIMAL(38, 0)"]
      const texts = ["-12.34", "0.001", "-0.00000001", "99999999.99999999", "1234567890123456789012.1234567890123456", "-170141183460469231731687303715884105"]
      const inline = texts.map((t) => `('${t}')`).join(", ")
      let exact = 0
      for (const cast of casts) {
        const got = yield* read(`SELECT TRY_CAST(t AS ${cast}) AS d, TRY_CAST(t AS ${cast})::VARCHAR AS duck_text FROM (VALUES ${inline}) AS v(t)`)
        assert.strictEqual(got.length, texts.length)
        for (const row of got) {
          // TRY_CAST is NULL where the value does not fit the width.
          if (row.duck_text === null) {
            assert.isNull(row.d)
            continue
          }
          const d = row.d as { unscaled: bigint; scale: number }
          assert.strictEqual(typeof d.unscaled, "bigint")
          assert.strictEqual(formatFixed(d.unscaled, d.scale), row.duck_text, cast)
          exact++
        }
      }
      assert.isAbove(exact, 15)
    }))

  it.effect("reads strings, numbers, longs, lists, maps and NULLs as the JS conversion does, over many chunks", () =>
    Effect.gen(function*() {
      const rows = yield* read(
        `SELECT i, 's' || i AS s, i::DOUBLE / 4 AS x, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 10000000000 END AS big,
           [i::VARCHAR, 'a'] AS l, MAP {'k': i::VARCHAR} AS m, i % 2 = 0 AS even, i AS i
         FROM range($1::BIGINT) t(i) ORDER BY i`,
        [5000n]
      )
      assert.strictEqual(rows.length, 5000) // more than two 2048-row chunks
      const last = rows[4999]!
      assert.deepStrictEqual(Object.keys(last), ["i", "s", "x", "big", "l", "m", "even", "i:1"])
      assert.strictEqual(last.i, 4999n)
      assert.strictEqual(last["i:1"], 4999n)
      assert.strictEqual(last.s, "s4999")
      assert.strictEqual(last.x, 1249.75)
      assert.strictEqual(last.big, 49_990_000_000_000n)
      assert.isNull(rows[4998]!.big)
      assert.deepStrictEqual(last.l, ["4999", "a"])
      assert.deepStrictEqual(last.m, [{ key: "k", value: "4999" }])
      assert.strictEqual(last.even, false)
      assert.deepStrictEqual(rows.map((r) => r.i), Array.from({ length: 5000 }, (_, i) => BigInt(i)))
    }))

  it.effect("keys rows by the column names as they are, whatever characters they hold", () =>
    Effect.gen(function*() {
      const names = ["a\"b", "x}; throw new Error(\"ran\"); ({", "__proto__", "constructor", "a\\b", "ü"]
      const select = names.map((name, i) => `${i} AS "${name.replaceAll("\"", "\"\"")}"`).join(", ")
      const [row] = yield* read(`SELECT ${select}`)
      assert.deepStrictEqual(Object.keys(row!), names)
      names.forEach((name, i) => assert.strictEqual(Object.getOwnPropertyDescriptor(row, name)?.value, i))
      assert.strictEqual(Object.getPrototypeOf(row), Object.prototype)
    }))

  it.effect("answers a statement without rows with no rows", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* read("SELECT 1 AS x WHERE false"), [])
    }))
})

layer(DuckDb.layerWith({ connections: 1 }))("piecesReader", (it) => {
  const STRINGS = [
    null, "", "a", "exactly12by.", "thirteen byte", "twenty-four characters..", "twenty-five characters...",
    // Neighbours that share their first piece, or their first two.
    "market.equities.trades.asx", "market.equities.quotes.asx", "x".repeat(40), "x".repeat(30) + "y".repeat(10),
    "a-123456789-1234", "résumé-ünïcode-ids", "日本語のテキストです"
  ]

  it.effect("gives back every string selected as pieces, in runs or not, NULL and multi-byte ones included", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const values = STRINGS.map((s) => (s === null ? "NULL" : `'${s}'`))
      // Each string 400 times in a row (as a topic repeats), over more than one chunk.
      const source = `SELECT s, k, i FROM (VALUES ${values.map((v, k) => `(${v}, ${k})`).join(", ")}) AS v(s, k), range(400) AS r(i)`
      const sql = `SELECT s, ${pieces("s", "__p")} FROM (${source}) ORDER BY k, i`
      const shuffled = `SELECT s, ${pieces("s", "__p")} FROM (${source}) ORDER BY i, k`
      const both = (statement: string) =>
        duckDb.withConnection((c) =>
          attempt("test", async () => {
            const out: Array<readonly [unknown, unknown]> = []
            await readChunks(c, statement, [], (chunk) => {
              const plain = cellReader(chunk.column("s"))
              const joined = piecesReader(chunk, "__p")
              for (let r = 0; r < chunk.rowCount; r++) out.push([plain(r), joined(r)])
            })
            return out
          })
        )
      for (const statement of [sql, shuffled]) {
        const got = yield* both(statement)
        assert.strictEqual(got.length, STRINGS.length * 400)
        for (const [plain, joined] of got) assert.strictEqual(joined, plain)
      }
      assert.deepStrictEqual((yield* both(sql)).filter((_, n) => n % 400 === 0).map(([s]) => s), STRINGS)
    }))
})

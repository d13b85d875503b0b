/**
 * The replay's direct column readers against DuckDB's own answers: strings inline or not, ASCII
 * or not, empty or NULL, read directly, through the interning cache or as a uniform chunk; bigints
 * with NULLs across validity words; decimals from their unscaled int64 against DuckDB's decimal
 * text, negatives, rounding edges and values beyond 2^53 included, cached or not.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  bigintAt,
  bigints,
  DecimalCache,
  decimalAt,
  decimals,
  Interned,
  internedAt,
  isNull,
  textAt,
  texts,
  uniformText
} from "../../../src/layers/replay/columns.ts"

const firstChunk = async (sql: string) => {
  const instance = await DuckDBInstance.create(":memory:")
  const connection = await instance.connect()
  const result = await connection.stream(sql)
  const chunk = (await result.fetchChunk())!
  return { chunk, close: () => connection.closeSync() }
}

const STRINGS = ["", "a", "BHP", "exactly12by.", "thirteen byte", "é", "résumé-ünï", "aaaaaaaaaaé", "market.equities.trades.asx", "日本語のテキスト", "x\u001fy", "it's"]

describe("replay column readers", () => {
  it("strings read what the library reads, NULLs in their places past one validity word, interned or not", async () => {
    const values = Array.from({ length: 300 }, (_, i) => i % 7 === 3 ? null : STRINGS[i % STRINGS.length]!)
    const { chunk, close } = await firstChunk(
      `SELECT CASE WHEN i % 7 = 3 THEN NULL ELSE [${STRINGS.map((x) => `'${x.replaceAll("'", "''")}'`).join(", ")}][i % ${STRINGS.length} + 1] END AS s
       FROM range(300) r(i) ORDER BY i`
    )
    const t = texts(chunk.getColumnVector(0))
    const cache = new Interned()
    for (const read of [(r: number) => textAt(t, r), (r: number) => internedAt(t, r, cache), (r: number) => internedAt(t, r, cache)]) {
      assert.deepStrictEqual(Array.from({ length: chunk.rowCount }, (_, r) => isNull(t.valid, r) ? null : read(r)), values)
    }
    assert.strictEqual(uniformText(t, chunk.rowCount), undefined)
    close()
  })

  it("a chunk of one inline string is uniform; one differing row or a long string is not", async () => {
    const uniform = async (sql: string) => {
      const { chunk, close } = await firstChunk(sql)
      const u = uniformText(texts(chunk.getColumnVector(0)), chunk.rowCount)
      close()
      return u
    }
    assert.strictEqual(await uniform(`SELECT 'ASX' || '' AS s FROM range(3000)`), "ASX")
    assert.strictEqual(await uniform(`SELECT CASE WHEN i = 2047 THEN 'ASY' ELSE 'ASX' END AS s FROM range(3000) r(i) ORDER BY i`), undefined)
    assert.strictEqual(await uniform(`SELECT 'market.equities' || '' AS s FROM range(10)`), undefined)
  })

  it("bigints keep NULLs and values beyond 2^53", async () => {
    const { chunk, close } = await firstChunk(
      `SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE i * 4611686018427387 END::BIGINT AS n FROM range(200) r(i) ORDER BY i`
    )
    const b = bigints(chunk.getColumnVector(0))
    assert.deepStrictEqual(
      Array.from({ length: chunk.rowCount }, (_, i) => bigintAt(b, i)),
      Array.from({ length: 200 }, (_, i) => i % 5 === 0 ? null : BigInt(i) * 4611686018427387n)
    )
    close()
  })

  it("decimal text from the unscaled int64 equals DuckDB's text, exactly 8 places, cached or not", async () => {
    const texts8 = [
      "9999999999.99999999", "-9999999999.99999999", "0.00000001", "-0.00000001", "-0.5", "0", "1234.5", "-12.345", "37.51", "100",
      "90071992.54740991", "90071992.54740992", "-90071992.54740992", "90071992.54740993", "89999999.99999999", "45035996.27370495"
    ]
    const { chunk, close } = await firstChunk(
      `SELECT v::VARCHAR AS t, v AS d FROM (SELECT unnest([${[...texts8, ...texts8].map((t) => `'${t}'`).join(",")}]::DECIMAL(18, 8)[]) AS v)`
    )
    const d = decimals(chunk.getColumnVector(1))
    const duck = texts(chunk.getColumnVector(0))
    const cache = new DecimalCache()
    for (let r = 0; r < chunk.rowCount; r++) assert.strictEqual(decimalAt(d, r, cache), textAt(duck, r))
    assert.strictEqual(chunk.rowCount, 2 * texts8.length)
    close()
  })

  it("decimal text equals exact bigint arithmetic for any decimal(18, 8), near 2^53 most of all", () => {
    const reference = (v: bigint) => {
      const m = v < 0n ? -v : v
      return `${v < 0n ? "-" : ""}${m / 100_000_000n}.${String(m % 100_000_000n).padStart(8, "0")}`
    }
    const max = 999_999_999_999_999_999n
    const around = (x: bigint) => fc.bigInt({ min: x - 100_000_000n, max: x + 100_000_000n })
    const small = 10_000_000_000n
    const values = fc.oneof(fc.bigInt({ min: -max, max }), around(2n ** 53n), around(-(2n ** 53n)), fc.bigInt({ min: -small, max: small }))
    fc.assert(fc.property(fc.array(values, { minLength: 1, maxLength: 64 }), (values) => {
      const column = { halves: new Int32Array(BigInt64Array.from(values).buffer), valid: null }
      const cache = new DecimalCache()
      for (let pass = 0; pass < 2; pass++) values.forEach((v, r) => assert.strictEqual(decimalAt(column, r, cache), reference(v)))
    }))
  })
})

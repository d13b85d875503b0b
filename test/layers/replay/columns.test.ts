/**
 * The replay's direct column readers against DuckDB's own answers: strings inline or not, ASCII
 * or not, empty or NULL; bigints with NULLs across validity words; decimals as two doubles
 * against DuckDB's decimal text, negatives and extremes included.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import { bigints, decimalText, doubles, varchar } from "../../../src/layers/replay/columns.ts"

const firstChunk = async (sql: string) => {
  const instance = await DuckDBInstance.create(":memory:")
  const connection = await instance.connect()
  const result = await connection.stream(sql)
  const chunk = (await result.fetchChunk())!
  return { chunk, close: () => connection.closeSync() }
}

const STRINGS = ["", "a", "BHP", "exactly12by.", "thirteen byte", "é", "résumé-ünï", "aaaaaaaaaaé", "market.equities.trades.asx", "日本語のテキスト", "x\u001fy", "it's"]

describe("replay column readers", () => {
  it("varchar reads what the library reads, NULLs in their places past one validity word", async () => {
    const values = Array.from({ length: 300 }, (_, i) => i % 7 === 3 ? null : STRINGS[i % STRINGS.length]!)
    const { chunk, close } = await firstChunk(
      `SELECT CASE WHEN i % 7 = 3 THEN NULL ELSE [${STRINGS.map((x) => `'${x.replaceAll("'", "''")}'`).join(", ")}][i % ${STRINGS.length} + 1] END AS s
       FROM range(300) r(i) ORDER BY i`
    )
    const read = varchar(chunk.getColumnVector(0))
    assert.deepStrictEqual(Array.from({ length: chunk.rowCount }, (_, i) => read(i)), values)
    close()
  })

  it("bigints keep NULLs and values beyond 2^53", async () => {
    const { chunk, close } = await firstChunk(
      `SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE i * 4611686018427387 END::BIGINT AS n FROM range(200) r(i) ORDER BY i`
    )
    const read = bigints(chunk.getColumnVector(0))
    assert.deepStrictEqual(
      Array.from({ length: chunk.rowCount }, (_, i) => read(i)),
      Array.from({ length: 200 }, (_, i) => i % 5 === 0 ? null : BigInt(i) * 4611686018427387n)
    )
    close()
  })

  it("decimal text from its integer part and fraction equals DuckDB's text, exactly 8 places", async () => {
    const texts = ["9999999999.99999999", "-9999999999.99999999", "0.00000001", "-0.00000001", "-0.5", "0", "1234.5", "-12.345", "37.51", "100"]
    const { chunk, close } = await firstChunk(
      `SELECT v::VARCHAR AS t, trunc(v)::DOUBLE AS i, ((v - trunc(v)) * 100000000)::DOUBLE AS f
       FROM (SELECT unnest([${texts.map((t) => `'${t}'`).join(",")}]::DECIMAL(18, 8)[]) AS v)`
    )
    const [t, i, f] = [varchar(chunk.getColumnVector(0)), doubles(chunk.getColumnVector(1)), doubles(chunk.getColumnVector(2))]
    const rows = Array.from({ length: chunk.rowCount }, (_, r) => [decimalText(i[r]!, f[r]!), t(r)])
    for (const [ours, duck] of rows) assert.strictEqual(ours, duck)
    assert.strictEqual(rows.length, texts.length)
    close()
  })
})

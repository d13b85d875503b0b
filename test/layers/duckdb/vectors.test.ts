/**
 * The direct column readers (replay and query engine) against DuckDB's own answers: strings inline or not, ASCII
 * or not, empty or NULL, read directly, through the interning cache or as a uniform chunk; bigints
 * with NULLs across validity words; decimals from their unscaled int64 against DuckDB's decimal
 * text, negatives, rounding edges and values beyond 2^53 included, cached or not; DECIMAL(38, s)
 * values around ±2^53 and ±2^64, NULLs, scales 8 and 16 against bigint arithmetic.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  bigintAt,
  bigints,
  DecimalCache,
  decimal128ApproxAt,
  decimal128BigAt,
  decimal128SafeAt,
  decimal128TextAt,
  decimalAt,
  decimals,
  decimals128,
  type Decimals128,
  Interned,
  internedAt,
  isNull,
  slotTextAt,
  textAt,
  texts,
  uniformText
} from "../../../src/layers/duckdb/vectors.ts"

const firstChunk = async (sql: string) => {
  const instance = await DuckDBInstance.create(":memory:")
  const connection = await instance.connect()
  const result = await connection.stream(sql)
  const chunk = (await result.fetchChunk())!
  return { chunk, close: () => connection.closeSync() }
}

const STRINGS = ["", "a", "BHP", "exactly12by.", "thirteen byte", "é", "résumé-ünï", "aaaaaaaaaaé", "market.equities.trades.asx", "日本語のテキスト", "x\u001fy", "it's"]

describe("DuckDB vector readers", () => {
  it("strings read what the library reads, NULLs in their places past one validity word, interned or not", async () => {
    const values = Array.from({ length: 300 }, (_, i) => i % 7 === 3 ? null : STRINGS[i % STRINGS.length]!)
    const { chunk, close } = await firstChunk(
      `SELECT CASE WHEN i % 7 = 3 THEN NULL ELSE [${STRINGS.map((x) => `'${x.replaceAll("'", "''")}'`).join(", ")}][i % ${STRINGS.length} + 1] END AS s
       FROM range(300) r(i) ORDER BY i`
    )
    const t = texts(chunk.getColumnVector(0))
    const cache = new Interned()
    const slots = new Interned()
    for (
      const read of [
        (r: number) => textAt(t, r),
        (r: number) => internedAt(t, r, cache),
        (r: number) => internedAt(t, r, cache),
        (r: number) => slotTextAt(t, r, slots),
        (r: number) => slotTextAt(t, r, slots)
      ]
    ) {
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
    // Values sharing their leading digits (prices of one instrument) render through cached prefixes.
    const sharing = fc.bigInt({ min: 1_234_560_000n, max: 1_234_580_000n }).map((v) => (v % 3n === 0n ? -v : v))
    const values = fc.oneof(fc.bigInt({ min: -max, max }), around(2n ** 53n), around(-(2n ** 53n)), fc.bigInt({ min: -small, max: small }), sharing)
    fc.assert(fc.property(fc.array(values, { minLength: 1, maxLength: 64 }), (values) => {
      const column = { halves: new Int32Array(BigInt64Array.from(values).buffer), valid: null }
      const cache = new DecimalCache()
      for (let pass = 0; pass < 2; pass++) values.forEach((v, r) => assert.strictEqual(decimalAt(column, r, cache), reference(v)))
    }))
  })

  it("DECIMAL(38, s) reads DuckDB's values exactly: around ±2^53 and ±2^64, negatives, NULLs, scales 8 and 16", async () => {
    const values = [0n, 1n, -1n, 99_999_999n, -100_000_001n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) + 1n, -(2n ** 53n), -(2n ** 53n) - 1n,
      2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n + 5n, -(2n ** 64n) - 5n, 10n ** 37n + 123_456_789n, -(10n ** 37n) - 50_000_000n]
    const rows = values.flatMap((v) => [v, null])
    for (const scale of [8, 16]) {
      const literal = (v: bigint) => {
        const m = (v < 0n ? -v : v).toString().padStart(scale + 1, "0")
        return `'${v < 0n ? "-" : ""}${m.slice(0, -scale)}.${m.slice(-scale)}'::DECIMAL(38, ${scale})`
      }
      const { chunk, close } = await firstChunk(
        `SELECT v, v::VARCHAR AS t FROM (VALUES ${rows.map((v, i) => `(${i}, ${v === null ? `NULL::DECIMAL(38, ${scale})` : literal(v)})`).join(", ")}) x(i, v) ORDER BY i`
      )
      const d = decimals128(chunk.getColumnVector(0))
      const duck = texts(chunk.getColumnVector(1))
      assert.strictEqual(d.scale, scale)
      rows.forEach((v, r) => {
        assert.strictEqual(isNull(d.valid, r), v === null)
        if (v === null) return
        assert.strictEqual(decimal128BigAt(d, r), v)
        const safe = decimal128SafeAt(d, r)
        if (v >= -(2n ** 53n) && v < 2n ** 53n) assert.strictEqual(safe, Number(v))
        else assert.isNaN(safe)
        assert.strictEqual(decimal128TextAt(d, r), reference8(v, scale))
        if (scale === 8) assert.strictEqual(decimal128TextAt(d, r), textAt(duck, r))
      })
      close()
    }
  })

  it("DECIMAL(38, s) text equals bigint arithmetic for any int128, near 2^53 and 2^64 most of all", () => {
    const max = 10n ** 38n - 1n
    const around = (x: bigint) => fc.bigInt({ min: x - 100_000_000n, max: x + 100_000_000n })
    const values = fc.oneof(
      fc.bigInt({ min: -max, max }),
      around(2n ** 53n),
      around(-(2n ** 53n)),
      around(2n ** 64n),
      around(-(2n ** 64n)),
      fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n })
    )
    fc.assert(fc.property(fc.array(values, { minLength: 1, maxLength: 64 }), fc.constantFrom(8, 16), (values, scale) => {
      const halves = new BigInt64Array(values.length * 2)
      values.forEach((v, r) => {
        halves[2 * r] = BigInt.asIntN(64, v)
        halves[2 * r + 1] = v >> 64n
      })
      const column: Decimals128 = {
        words: new Int32Array(halves.buffer),
        lows: new BigUint64Array(halves.buffer),
        highs: halves,
        scale,
        valid: null
      }
      values.forEach((v, r) => {
        assert.strictEqual(decimal128BigAt(column, r), v)
        assert.strictEqual(decimal128TextAt(column, r), reference8(v, scale))
        const approx = decimal128ApproxAt(column, r)
        if (v < 0n) assert.isNaN(approx)
        else assert.isTrue((BigInt(approx) - v < 0n ? v - BigInt(approx) : BigInt(approx) - v) * 2n ** 51n <= v, `${v} ≈ ${approx}`)
      })
    }))
  })
})

/** `v` at `scale` places as text at 8 places, rounded half to even: bigint arithmetic only. */
const reference8 = (v: bigint, scale: number): string => {
  const divisor = 10n ** BigInt(scale - 8)
  const m = v < 0n ? -v : v
  let q = m / divisor
  const twice = 2n * (m % divisor)
  if (twice > divisor || (twice === divisor && q % 2n === 1n)) q += 1n
  const sign = v < 0n && q !== 0n ? "-" : ""
  return `${sign}${q / 100_000_000n}.${String(q % 100_000_000n).padStart(8, "0")}`
}

/**
 * decimal(18, 8) columns through the Parquet writer, as ingest hands them over (unboxed
 * BigInt64Array columns, loaded as BIGINT and turned back into DECIMAL in SQL) and as plain
 * arrays: random unscaled values over the whole range, ±(10^18 − 1) included, read back exactly,
 * with bounds that are the exact minimum and maximum.
 */
import { afterAll, assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { decode } from "../../../src/domain/iceberg/bounds.ts"
import { formatFixed } from "../../../src/domain/query/exact.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-parquet-decimals-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const DAY = 86_400_000_000n
const day0 = 19_724n * DAY
const MAX = 10n ** 18n - 1n

const batchOf = (prices: ReadonlyArray<bigint>, quantities: ReadonlyArray<bigint>, unboxed: boolean): ColumnBatch => {
  const n = prices.length
  const longs = (values: ReadonlyArray<bigint>) => (unboxed ? BigInt64Array.from(values) : [...values])
  return {
    rowCount: n,
    columns: {
      message_id: prices.map((_, i) => `m-${i}`),
      trade_id: prices.map((_, i) => `t-${i}`),
      symbol: prices.map(() => "BHP"),
      exchange: prices.map(() => "ASX"),
      asset_class: prices.map(() => "equities"),
      exchange_timestamp: longs(prices.map((_, i) => day0 + BigInt(i))),
      price: longs(prices),
      quantity: longs(quantities),
      currency: prices.map(() => "AUD"),
      side: prices.map(() => "BUY"),
      conditions: prices.map(() => []),
      source_sequence: longs(prices.map((_, i) => BigInt(i))),
      ingestion_timestamp: longs(prices.map(() => day0)),
      kafka_topic: prices.map(() => "market.equities.trades.asx"),
      kafka_partition: prices.map(() => 0),
      kafka_offset: longs(prices.map((_, i) => BigInt(i))),
      vendor_data: prices.map(() => [])
    }
  }
}

let written = 0
const roundTrip = (prices: ReadonlyArray<bigint>, quantities: ReadonlyArray<bigint>, unboxed: boolean) =>
  Effect.gen(function*() {
    const files = yield* writeDataFiles(batchOf(prices, quantities, unboxed), {
      schema: tables.trades.schema,
      spec: tables.trades.spec,
      sortOrder: tables.trades.sortOrder,
      directory: path.join(root, `t${++written}`),
      targetFileSizeBytes: 128 * 1024 * 1024,
      fileNamePrefix: "00000-0"
    })
    const duckDb = yield* DuckDb
    const list = files.map((f) => `'${fileURLToPath(f.filePath).replaceAll("'", "''")}'`).join(", ")
    const rows = yield* duckDb.withConnection((c) =>
      query(c, "read back", `SELECT message_id, price::VARCHAR AS price, quantity::VARCHAR AS quantity, typeof(price) AS type FROM read_parquet([${list}])`)
    )
    return { files, rows }
  })

const unscaled = fc.oneof(
  fc.bigInt({ min: -MAX, max: MAX }),
  fc.constantFrom(MAX, -MAX, 1n, -1n, 0n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 32n, -(2n ** 31n))
)

layer(DuckDb.layerWith({}))("decimal(18, 8) through the Parquet writer", (it) => {
  it.effect("every unscaled value within ±(10^18 − 1) reads back exactly, unboxed or not, with exact bounds", () =>
    Effect.gen(function*() {
      const samples = fc.sample(fc.tuple(fc.array(fc.tuple(unscaled, unscaled), { minLength: 1, maxLength: 40 }), fc.boolean()), 30)
      for (const [pairs, unboxed] of samples) {
        const prices = pairs.map(([p]) => p)
        const quantities = pairs.map(([, q]) => q)
        const { files, rows } = yield* roundTrip(prices, quantities, unboxed)
        assert.strictEqual(rows.length, prices.length)
        for (const row of rows) {
          const i = Number((row["message_id"] as string).slice(2))
          assert.strictEqual(row["type"], "DECIMAL(18,8)")
          assert.strictEqual(row["price"], formatFixed(prices[i]!), `price ${prices[i]} (unboxed: ${unboxed})`)
          assert.strictEqual(row["quantity"], formatFixed(quantities[i]!), `quantity ${quantities[i]}`)
        }
        const id = tables.trades.schema.fields.find((f) => f.name === "price")!.id
        const lower = files.map((f) => decode("decimal(18, 8)", f.lowerBounds!.get(id)!) as bigint)
        const upper = files.map((f) => decode("decimal(18, 8)", f.upperBounds!.get(id)!) as bigint)
        assert.strictEqual(lower.reduce((a, b) => (b < a ? b : a)), prices.reduce((a, b) => (b < a ? b : a)))
        assert.strictEqual(upper.reduce((a, b) => (b > a ? b : a)), prices.reduce((a, b) => (b > a ? b : a)))
      }
    }))
})

/** The one source every read of data files uses: by name for K2's own tables, by field id after another engine's change. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { NestedField, Schema } from "../../../src/domain/iceberg/spec.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { readParquet, readPlannedFiles } from "../../../src/layers/duckdb/readPlan.ts"

const schemaOf = (fields: ReadonlyArray<NestedField>): Schema => ({ type: "struct", "schema-id": 1, fields })

describe("readParquet", () => {
  it("K2's own tables read by name, as before: no schema map", () => {
    const plan = { schema: schemaOf([{ id: 1, name: "price", required: true, type: "decimal(18, 8)" }]), byFieldId: false }
    assert.strictEqual(readPlannedFiles("$1", plan), "read_parquet($1::VARCHAR[], hive_partitioning = false)")
  })

  it.effect("by field id: a renamed column under the schema's name, a promotion exact, a column no file holds null", () =>
    Effect.gen(function*() {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-fieldid-")), "old.parquet")
      const duckDb = yield* DuckDb
      // A file as written before the change: price decimal(18, 8) id 2, kafka_partition int id 3, blob id 4.
      yield* duckDb.withConnection((c) =>
        query(c, "write", `COPY (SELECT 'A' AS symbol, 9999999999.12345678::DECIMAL(18, 8) AS price, 7::INTEGER AS kafka_partition, '\\xAA\\x00'::BLOB AS raw)
          TO '${file}' (FORMAT parquet, FIELD_IDS {symbol: 1, price: 2, kafka_partition: 3, raw: 4})`)
      )
      const plan = {
        schema: schemaOf([
          { id: 1, name: "symbol", required: true, type: "string" },
          { id: 2, name: "trade_price", required: true, type: "decimal(20, 8)" },
          { id: 3, name: "kafka_partition", required: true, type: "long" },
          { id: 4, name: "raw", required: false, type: "binary" },
          { id: -5, name: "vendor_note", required: false, type: "string" }
        ]),
        byFieldId: true
      }
      const [row] = yield* duckDb.withConnection((c) =>
        query(c, "read", `SELECT symbol, trade_price::VARCHAR AS p, typeof(trade_price) AS pt, kafka_partition, typeof(kafka_partition) AS kt,
          octet_length(raw)::INTEGER AS raw_bytes, vendor_note FROM ${readParquet(`['${file}']`, plan)}`)
      )
      assert.deepStrictEqual(row, {
        symbol: "A",
        p: "9999999999.12345678",
        pt: "DECIMAL(20,8)",
        kafka_partition: 7n,
        kt: "BIGINT",
        raw_bytes: 2,
        vendor_note: null
      })
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))))
})

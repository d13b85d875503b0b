/** The one source every read of data files uses: by name for K2's own tables, by field id after another engine's change. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { NestedField, Schema } from "../../../src/domain/iceberg/spec.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { nameReadOf, readParquet, readPlannedFiles } from "../../../src/layers/duckdb/readPlan.ts"
import { duckType } from "../../../src/layers/duckdb/sqlText.ts"

const schemaOf = (fields: ReadonlyArray<NestedField>): Schema => ({ type: "struct", "schema-id": 1, fields })

describe("readParquet", () => {
  it("K2's own tables read by name, as before: no schema map", () => {
    const plan = { schema: schemaOf([{ id: 1, name: "price", required: true, type: "decimal(18, 8)" }]), byFieldId: false }
    assert.strictEqual(
      readPlannedFiles("$1", plan),
      "read_parquet(list_transform($1::VARCHAR[], lambda p: regexp_replace(p, '[*?[]', '[\\0]', 'g')), hive_partitioning = false)"
    )
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

  it.effect("by field id, columns only another engine writes keep their types: uuid, fixed, time, a struct (not text)", () =>
    Effect.gen(function*() {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-fieldid-")), "other.parquet")
      const duckDb = yield* DuckDb
      yield* duckDb.withConnection((c) =>
        query(c, "write", `COPY (SELECT 'A' AS symbol, uuid '550e8400-e29b-41d4-a716-446655440000' AS u, '\\xAA\\xFF\\x00'::BLOB AS f,
          TIME '12:34:56.789' AS t, {'x': 1, 'y': 'z'} AS s, [{'x': 2, 'y': 'w'}] AS l)
          TO '${file}' (FORMAT parquet, FIELD_IDS {symbol: 1, u: 2, f: 3, t: 4, s: {__duckdb_field_id: 5, x: 6, y: 7}, l: {__duckdb_field_id: 8, element: {__duckdb_field_id: 9, x: 10, y: 11}}})`)
      )
      const struct = { type: "struct" as const, fields: [{ id: 6, name: "x", required: false, type: "int" as const }, { id: 7, name: "y", required: false, type: "string" as const }] }
      const plan = {
        schema: schemaOf([
          { id: 1, name: "ticker", required: true, type: "string" },
          { id: 2, name: "u", required: false, type: "uuid" as never },
          { id: 3, name: "f", required: false, type: "fixed[3]" as never },
          { id: 4, name: "t", required: false, type: "time" as never },
          { id: 5, name: "s", required: false, type: struct },
          { id: 8, name: "l", required: false, type: { type: "list", "element-id": 9, element: { ...struct, fields: struct.fields.map((f) => ({ ...f, id: f.id + 4 })) }, "element-required": false } }
        ]),
        byFieldId: true
      }
      const [row] = yield* duckDb.withConnection((c) =>
        query(c, "read", `SELECT ticker, u::VARCHAR AS u, typeof(u) AS ut, hex(f) AS f, typeof(f) AS ft, t::VARCHAR AS t, typeof(t) AS tt,
          s.y AS sy, typeof(s) AS st, l[1].x AS lx, typeof(l) AS lt FROM ${readParquet(`['${file}']`, plan)}`)
      )
      assert.deepStrictEqual(row, {
        ticker: "A",
        u: "550e8400-e29b-41d4-a716-446655440000",
        ut: "UUID",
        f: "AAFF00",
        ft: "BLOB",
        t: "12:34:56.789",
        tt: "TIME",
        sy: "z",
        st: "STRUCT(x INTEGER, y VARCHAR)",
        lx: 2,
        lt: "STRUCT(x INTEGER, y VARCHAR)[]"
      })
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))))

  it.effect("files without field ids: found from their footers (a file with ids is read by id), read by name beside the id read", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-fieldid-"))
      const numbered = path.join(dir, "numbered.parquet")
      const imported = path.join(dir, "imported.parquet")
      const duckDb = yield* DuckDb
      yield* duckDb.withConnection((c) =>
        Effect.andThen(
          query(c, "write", `COPY (SELECT 'A' AS symbol, 1.5::DECIMAL(18, 8) AS price) TO '${numbered}' (FORMAT parquet, FIELD_IDS {symbol: 1, price: 2})`),
          query(c, "write", `COPY (SELECT 'B' AS Symbol, 2.5::DOUBLE AS px) TO '${imported}' (FORMAT parquet)`)
        )
      )
      const schema = schemaOf([{ id: 1, name: "symbol", required: true, type: "string" }, { id: 2, name: "trade_price", required: true, type: "decimal(20, 8)" }])
      const read = schemaOf([{ id: 1, name: "symbol", required: true, type: "string" }, { id: 2, name: "price", required: true, type: "decimal(20, 8)" }])
      const mapping = { "schema.name-mapping.default": JSON.stringify([{ "field-id": 1, names: ["symbol"] }, { "field-id": 2, names: ["price", "trade_price", "px"] }]) }
      const byName = yield* nameReadOf("t", [numbered, imported], schema, read, mapping, [])
      assert.deepStrictEqual(byName, { paths: [imported], columns: { symbol: ["symbol"], price: ["px"] } })
      const rows = yield* duckDb.withConnection((c) =>
        query(c, "read", `SELECT symbol, price::VARCHAR AS price FROM ${readParquet(`['${numbered}', '${imported}']`, { schema: read, byFieldId: true, byName: byName! })} ORDER BY symbol`)
      )
      assert.deepStrictEqual(rows, [{ symbol: "A", price: "1.50000000" }, { symbol: "B", price: "2.50000000" }])
      // Only the planned files: the imported one is not read into a read that does not list it.
      const one = yield* duckDb.withConnection((c) =>
        query(c, "read", `SELECT symbol FROM ${readParquet(`['${numbered}']`, { schema: read, byFieldId: true, byName: byName! })}`)
      )
      assert.deepStrictEqual(one, [{ symbol: "A" }])
      // An identity partition's column the file lacks (a Hive import keeps it in the path): refused, not null.
      const refused = yield* Effect.flip(nameReadOf("t", [imported], schema, read, {}, [2]))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      assert.include(refused.message, imported)
      assert.include(refused.message, "identity partition")
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))))

  it("a struct's field names are quoted in its type: another engine's may be any text", () => {
    const struct = {
      type: "struct" as const,
      fields: [{ id: 6, name: "order", required: false, type: "int" as const }, { id: 7, name: "a \"b\"", required: false, type: "string" as const }]
    }
    assert.strictEqual(duckType(struct), `STRUCT("order" INTEGER, "a ""b""" VARCHAR)`)
  })
})

/**
 * The SQL sandbox's view of a table another engine added a column to: newer files hold it, older
 * ones lack it. Whatever file comes first, every row is read and the column is null where a file
 * lacks it (reading by the first file's columns hid it, or failed on a file lacking it).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import type { NameRead } from "../../../src/domain/iceberg/readSchema.ts"
import { runInThisProcess } from "../../../src/layers/http/sandboxRun.ts"
import { holdsAddedColumns, sandboxTableOf } from "../../../src/layers/http/sql.ts"
import { nothingOf } from "../../../src/services/TableScanner.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-added-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const older = path.join(dir, "older.parquet")
const newer = path.join(dir, "newer.parquet")

const writeFiles = Effect.promise(async () => {
  const instance = await DuckDBInstance.create(":memory:")
  const connection = await instance.connect()
  await connection.run(`COPY (SELECT 'a' AS message_id, 1::INT AS kafka_partition) TO '${older}' (FORMAT parquet, FIELD_IDS {message_id: 1, kafka_partition: 15})`)
  await connection.run(
    `COPY (SELECT 'b' AS message_id, 2::INT AS kafka_partition, 'note' AS venue_note) TO '${newer}' (FORMAT parquet, FIELD_IDS {message_id: 1, kafka_partition: 15, venue_note: 21})`
  )
  connection.closeSync()
  instance.closeSync()
})

/** The table's schema after another engine added venue_note. */
const withNote: Schema = { ...tables.trades.schema, fields: [...tables.trades.schema.fields, { id: 99, name: "venue_note", required: false, type: "string" }] }

describe("SQL over files with and without an added column", () => {
  for (const order of [[older, newer], [newer, older]]) {
    it.effect(`reads every row and the added column, ${path.basename(order[0]!)} first`, () =>
      Effect.gen(function*() {
        if (!fs.existsSync(newer)) yield* writeFiles
        const result = yield* runInThisProcess({
          sql: "SELECT message_id, kafka_partition, venue_note FROM trades ORDER BY message_id",
          tables: [{ name: "trades", schema: tables.trades.schema, files: order, widenDecimals: true, readAs: { schema: withNote, byFieldId: false } }],
          maxRows: 10,
          timeoutMs: 30_000
        })
        assert.deepStrictEqual(result.rows, [
          { message_id: "a", kafka_partition: 1, venue_note: null },
          { message_id: "b", kafka_partition: 2, venue_note: "note" }
        ])
      }))
  }
})

describe("SQL over a table read by field id that also holds an added column", () => {
  it.effect("reads every row by id: no union by name (DuckDB refuses it beside a schema)", () =>
    Effect.gen(function*() {
      if (!fs.existsSync(newer)) yield* writeFiles
      const byId: Schema = { ...withNote, fields: [...tables.trades.schema.fields, { id: 21, name: "venue_note", required: false, type: "string" }] }
      const result = yield* runInThisProcess({
        sql: "SELECT message_id, kafka_partition, venue_note FROM trades ORDER BY message_id",
        tables: [{ name: "trades", schema: tables.trades.schema, files: [older, newer], widenDecimals: true, readAs: { schema: byId, byFieldId: true } }],
        maxRows: 10,
        timeoutMs: 30_000
      })
      assert.deepStrictEqual(result.rows, [
        { message_id: "a", kafka_partition: 1, venue_note: null },
        { message_id: "b", kafka_partition: 2, venue_note: "note" }
      ])
    }))
})

describe("SQL over a table read by field id with a file without field ids (another engine's add_files)", () => {
  it.effect("the imported file's rows are read by the names its plan gives, not as null", () =>
    Effect.gen(function*() {
      if (!fs.existsSync(newer)) yield* writeFiles
      const imported = path.join(dir, "imported.parquet")
      yield* Effect.promise(async () => {
        const instance = await DuckDBInstance.create(":memory:")
        const connection = await instance.connect()
        await connection.run(`COPY (SELECT 'c' AS msg, 3::INT AS kafka_partition) TO '${imported}' (FORMAT parquet)`)
        connection.closeSync()
        instance.closeSync()
      })
      const byName: NameRead = { paths: [imported], columns: { message_id: ["msg"], kafka_partition: ["kafka_partition"] } }
      const plan = { ...nothingOf("trades"), byFieldId: true, byName, files: [] }
      const table = { ...sandboxTableOf("trades", plan), files: [older, imported], widenDecimals: true }
      assert.deepStrictEqual(table.readAs?.byName, byName)
      const result = yield* runInThisProcess({
        sql: "SELECT message_id, kafka_partition FROM trades ORDER BY message_id",
        tables: [table],
        maxRows: 10,
        timeoutMs: 30_000
      })
      assert.deepStrictEqual(result.rows, [
        { message_id: "a", kafka_partition: 1 },
        { message_id: "c", kafka_partition: 3 }
      ])
    }))
})

describe("SQL over columns only another engine writes (uuid, fixed, time, struct)", () => {
  const other = path.join(dir, "other.parquet")
  const withOthers: Schema = {
    ...tables.trades.schema,
    fields: [
      ...tables.trades.schema.fields,
      { id: 21, name: "venue_id", required: false, type: "uuid" as never },
      { id: 22, name: "raw", required: false, type: "fixed[2]" as never },
      { id: 23, name: "local_time", required: false, type: "time" as never },
      { id: 24, name: "venue", required: false, type: { type: "struct", fields: [{ id: 25, name: "mic", required: false, type: "string" }, { id: 26, name: "lot", required: false, type: "int" }] } }
    ]
  }
  const query = "SELECT message_id, venue_id, typeof(venue_id) AS id_type, raw, typeof(raw) AS raw_type, local_time, venue, venue.mic AS mic FROM trades ORDER BY message_id"
  const want = [
    { message_id: "a", venue_id: null, id_type: "UUID", raw: null, raw_type: "BLOB", local_time: null, venue: null, mic: null },
    { message_id: "c", venue_id: "550e8400-e29b-41d4-a716-446655440000", id_type: "UUID", raw: "\\xAA\\x00", raw_type: "BLOB", local_time: "09:30:00", venue: { mic: "XASX", lot: 100 }, mic: "XASX" }
  ]
  const writeOther = Effect.promise(async () => {
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    await connection.run(
      `COPY (SELECT 'c' AS message_id, 3::INT AS kafka_partition, uuid '550e8400-e29b-41d4-a716-446655440000' AS venue_id, '\\xAA\\x00'::BLOB AS raw,
        TIME '09:30:00' AS local_time, {'mic': 'XASX', 'lot': 100::INT} AS venue)
        TO '${other}' (FORMAT parquet, FIELD_IDS {message_id: 1, kafka_partition: 15, venue_id: 21, raw: 22, local_time: 23, venue: {__duckdb_field_id: 24, mic: 25, lot: 26}})`
    )
    connection.closeSync()
    instance.closeSync()
  })
  // Read by name (only added columns) DuckDB gives the file's types; by field id, the same ones, not text.
  for (const byFieldId of [false, true]) {
    it.effect(`shows them at their own types, read by ${byFieldId ? "field id" : "name"}`, () =>
      Effect.gen(function*() {
        if (!fs.existsSync(newer)) yield* writeFiles
        if (!fs.existsSync(other)) yield* writeOther
        const result = yield* runInThisProcess({
          sql: query,
          tables: [{ name: "trades", schema: tables.trades.schema, files: [older, other], widenDecimals: true, readAs: { schema: withOthers, byFieldId } }],
          maxRows: 10,
          timeoutMs: 30_000
        })
        assert.deepStrictEqual(result.rows, want)
      }))
  }
})

describe("which tables are read by name over every file's columns", () => {
  const own = tables.trades.schema
  it("those whose snapshot holds a column the table's definition lacks; not K2's own, in any column order", () => {
    assert.isFalse(holdsAddedColumns(own, own))
    assert.isFalse(holdsAddedColumns({ ...own, fields: [...own.fields].reverse() }, own))
    assert.isTrue(holdsAddedColumns(withNote, own))
  })
})

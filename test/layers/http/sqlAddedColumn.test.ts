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
import { holdsAddedColumns, runInThisProcess } from "../../../src/layers/http/sql.ts"

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

describe("which tables are read by name over every file's columns", () => {
  const own = tables.trades.schema
  it("those whose snapshot holds a column the table's definition lacks; not K2's own, in any column order", () => {
    assert.isFalse(holdsAddedColumns(own, own))
    assert.isFalse(holdsAddedColumns({ ...own, fields: [...own.fields].reverse() }, own))
    assert.isTrue(holdsAddedColumns(withNote, own))
  })
})

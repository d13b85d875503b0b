/**
 * A partition's rows of a batch in a DuckDB temp table, loaded through the appender (DataChunks,
 * the fastest way in from JS) in write order, as `loadPlan` decided each column loads. This is
 * the hot path of every flush: per row, only a vector store.
 */
import { BIGINT, type DuckDBConnection, DuckDBDataChunk, type DuckDBValue } from "@duckdb/node-api"
import { Effect } from "effect"
import type { Schema } from "../../domain/iceberg/spec.ts"
import { attempt, type DuckDbError, query } from "../duckdb/DuckDb.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"
import type { LoadedBatch } from "./batchLoadPlan.ts"
import { identity } from "./duckColumns.ts"
import type { PartitionSource } from "./parquetCopy.ts"

let tableCounter = 0

/**
 * `data[rows[r]]` for r in [start, end) into a BIGINT vector, as raw 32-bit halves: no bigint
 * is made per value, and the vector's validity stays all valid (the column has no nulls). The
 * vector's buffer is not public API: its field is checked, and @duckdb/node-api is pinned.
 */
const gatherInt64 = (data: BigInt64Array, rows: Int32Array, start: number, end: number, vector: unknown) => {
  const items = (vector as { readonly items?: unknown }).items
  if (!(items instanceof BigInt64Array) || items.length < end - start) {
    throw new Error("@duckdb/node-api's BIGINT vector no longer holds its items as a BigInt64Array")
  }
  const from = new Int32Array(data.buffer, data.byteOffset, data.length * 2)
  const to = new Int32Array(items.buffer, items.byteOffset, items.length * 2)
  for (let r = start, k = 0; r < end; r++, k += 2) {
    const j = rows[r]! * 2
    to[k] = from[j]!
    to[k + 1] = from[j + 1]!
  }
}

const dropTable = (connection: DuckDBConnection, table: string) =>
  query(connection, "drop batch table", `DROP TABLE IF EXISTS ${table}`).pipe(Effect.ignore)

/** Rows of the batch (indices, in write order) in a temp table, and the SELECT that reads them back as the schema's columns. */
const loadRows = (connection: DuckDBConnection, schema: Schema, batch: LoadedBatch, rows: Int32Array) =>
  Effect.gen(function*() {
    const { columns, params, paramTypes, values } = batch
    const table = `k2_batch_${++tableCounter}`
    const loaded = schema.fields.flatMap((field, i) => {
      const c = columns[i]!
      return "constant" in c ? [] : [{ field, column: c, data: values[i] ?? [] }]
    })
    const ddl = loaded
      .map(({ column: c, field: f }) => `${quoteIdent(f.name)} ${c.sql}${f.required ? " NOT NULL" : ""}`)
      .join(", ")
    yield* query(connection, "create batch table", `CREATE TEMP TABLE ${table} (${ddl})`)
    yield* attempt("load batch", async () => {
      const appender = await connection.createAppender(table, "main", "temp")
      try {
        const types = loaded.map(({ column: c }) => c.type)
        const chunkRows = 2048 // DuckDB's vector size: the most rows a chunk holds
        // One chunk reused for every full slice: creating one converts every column type
        // (an ENUM's whole dictionary) to a native type again.
        const full = DuckDBDataChunk.create(types, chunkRows)
        for (let start = 0; start < rows.length; start += chunkRows) {
          const end = Math.min(rows.length, start + chunkRows)
          const chunk = end - start === chunkRows ? full : DuckDBDataChunk.create(types, end - start)
          loaded.forEach(({ column: c, data }, i) => {
            const vector = chunk.getColumnVector(i)
            if (data instanceof BigInt64Array && c.type === BIGINT) {
              gatherInt64(data, rows, start, end, vector)
            } else if (c.toDuck === identity) {
              for (let r = start; r < end; r++) vector.setItem(r - start, (data[rows[r]!] ?? null) as DuckDBValue)
            } else {
              for (let r = start; r < end; r++) {
                const v = data[rows[r]!]
                vector.setItem(r - start, v == null ? null : c.toDuck(v))
              }
            }
            vector.flush()
          })
          appender.appendDataChunk(chunk)
        }
        appender.flushSync()
      } finally {
        appender.closeSync()
      }
      // The table is dropped by `withBatchTable` only once this returns: a load that failed drops it here.
    }).pipe(Effect.onError(() => dropTable(connection, table)))
    const select = `SELECT ${
      schema.fields.map((f, i) => {
        const c = columns[i]!
        return `${"constant" in c ? c.constant : c.read(quoteIdent(f.name))} AS ${quoteIdent(f.name)}`
      }).join(", ")
    } FROM ${table}`
    const source: PartitionSource = { select, params, types: paramTypes }
    return { table, source }
  })

/** Runs `use` on `rows` of the batch loaded into a temp table (read by the source it is given), dropped after. */
export const withBatchTable = <A, E, R>(
  connection: DuckDBConnection,
  schema: Schema,
  batch: LoadedBatch,
  rows: Int32Array,
  use: (source: PartitionSource) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | DuckDbError, R> =>
  Effect.acquireUseRelease(
    loadRows(connection, schema, batch, rows),
    (loaded) => use(loaded.source),
    (loaded) => dropTable(connection, loaded.table)
  )

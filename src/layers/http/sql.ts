/**
 * Read-only user SQL. Each request gets its own DuckDB instance holding only views
 * `trades`, `quotes`, `instruments` and `sequence_events` over the planned Parquet files of the pinned
 * snapshots; then the instance is locked down before any user text reaches it:
 *
 * - `allowed_paths` = exactly those files (plus our own output file for Parquet; a file whose path
 *   DuckDB would glob is read through a plain-named link, `withPlainPaths`),
 *   `enable_external_access = false` (no other file, no network, no INSTALL/ATTACH/COPY
 *   elsewhere), `lock_configuration = true` (no SET can undo it), extension autoload off;
 * - a parse gate: `json_serialize_sql` (which serializes SELECT statements only) must
 *   yield exactly one statement, so PRAGMA, COPY, ATTACH, SET, DDL and stacked
 *   statements are refused before execution;
 * - an allow-list over that parsed statement (`checkReferences`): it may read only the
 *   views and its own CTEs, a few generators, and no function that reads settings or
 *   the catalog, since DuckDB's catalog and settings hold the warehouse's file paths;
 * - a row limit and a byte budget (streamed: fetching stops at limit + 1 rows or once
 *   the converted rows pass the budget), a time limit (the statement is interrupted),
 *   one thread and a memory limit per instance;
 * - all of it in a worker process (sandboxWorker.ts) held to a data size and killed a little
 *   past the time limit, for what DuckDB's limits do not hold (`runSandboxed`).
 *
 * The pieces: sqlGate.ts (the parse gate and the allow-list), sandboxRun.ts (the run on one locked-down
 * instance, `runInThisProcess`), sandboxPool.ts (the worker processes, `runSandboxed`), sandboxWorker.ts
 * (the worker's side), sqlJson.ts (rows as JSON), sqlExactTypes.ts (decimals and 128-bit integers kept
 * exact), sqlErrors.ts. This module holds what they share: a run's request, its tables and its result.
 */
import type { Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { definitionOf, type TableName } from "../../domain/tables.ts"
import { plannedPaths, type ReadAs } from "../duckdb/readPlan.ts"

export interface SandboxTable {
  readonly name: string
  readonly schema: TableSchema
  readonly files: ReadonlyArray<string>
  /** The user's SQL reads it: its decimals shown as DECIMAL(38, scale) (`widenedDecimals`); exports keep the table's types. */
  readonly widenDecimals?: boolean
  /**
   * How its plan reads the files (`readParquet`): by field id after another engine renamed, dropped
   * or retyped a column; by name over every file's columns after it only added one (only newer
   * files hold it), each footer read to bind, which K2's own tables are spared (~0.25 ms a file: an
   * hour of one-second commits is 3,600 files). Absent: by name, as `schema`.
   */
  readonly readAs?: ReadAs
}

/** The sandbox's table of a plan: the table's own columns, its planned files, read as the plan says. */
export const sandboxTableOf = (name: TableName, plan: ScanPlan, options: { readonly widenDecimals?: boolean } = {}): SandboxTable => ({
  name,
  schema: definitionOf(name).schema,
  files: plannedPaths(plan),
  ...options,
  readAs: { schema: plan.schema, byFieldId: plan.byFieldId, ...(plan.byName === undefined ? {} : { byName: plan.byName }) }
})

/** Whether a snapshot's schema holds a column the table's own definition lacks: one another engine added. */
export const holdsAddedColumns = (read: TableSchema, own: TableSchema): boolean => {
  const names = new Set(own.fields.map((f) => f.name))
  return read.fields.some((f) => !names.has(f.name))
}

/** The header a cut answer carries (CSV and Parquet have no other place to say so). */
export const truncationHeaders = (result: SqlResult): Readonly<Record<string, string>> =>
  result.truncatedBy === null ? {} : { "k2-truncated": result.truncatedBy }

export interface SqlResult {
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** JSON-safe values: decimals, longs and instants as text. */
  readonly rows: ReadonlyArray<Record<string, unknown>>
  /** Why the rows stop short: the row limit or the byte budget; null when the answer is whole. */
  readonly truncatedBy: "rows" | "bytes" | null
}

export interface SandboxRequest {
  readonly sql: string
  readonly tables: ReadonlyArray<SandboxTable>
  readonly maxRows: number
  readonly maxBytes?: number
  readonly timeoutMs: number
  readonly parquetOut?: string
  /**
   * A Parquet answer's rows in no order (`sql` without its ORDER BY), counted instead of `sql` when
   * the file holds `maxRows` (or before it is written, `countFirst`): counting `sql` sorted every row a second time (3.6 s of a 5,000,000-row export).
   */
  readonly countSql?: string
  /**
   * A Parquet answer refused past `maxRows` (a whole-range export: too_many_rows), not cut there: its rows
   * (countSql's, unsorted) are counted before the file is written, and past `maxRows` none is written
   * (`truncatedBy: "rows"`). Written first, a refused export sorted and wrote every row to a temp file first (ADR-107).
   */
  readonly countFirst?: boolean
  /**
   * DuckDB threads of the run, 1 unless given: user SQL keeps one (a sum over several can wrap,
   * ADR-36); an export of trades or quotes, a sort of millions of rows, takes `EXPORT_THREADS` (ADR-104).
   */
  readonly threads?: number
}

/** DuckDB threads of a trades/quotes Parquet export's run: its sort and Parquet write, in parallel (ADR-104). */
export const EXPORT_THREADS = 2

/**
 * Read-only user SQL. Each request gets its own DuckDB instance holding only views
 * `trades`, `quotes` and `instruments` over the planned Parquet files of the pinned
 * snapshots; then the instance is locked down before any user text reaches it:
 *
 * - `allowed_paths` = exactly those files (plus our own output file for Parquet),
 *   `enable_external_access = false` (no other file, no network, no INSTALL/ATTACH/COPY
 *   elsewhere), `lock_configuration = true` (no SET can undo it), extension autoload off;
 * - a parse gate: `json_serialize_sql` (which serializes SELECT statements only) must
 *   yield exactly one statement, so PRAGMA, COPY, ATTACH, SET, DDL and stacked
 *   statements are refused before execution;
 * - a row limit (streamed: at most limit + 1 rows are ever fetched), a time limit
 *   (the statement is interrupted), one thread and a memory limit per instance.
 */
import { type DuckDBConnection, DuckDBInstance, JsonDuckDBValueConverter } from "@duckdb/node-api"
import { Effect, Schema } from "effect"
import { DECIMAL_TYPE, type NestedField, type Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import { executeOne } from "../duckdb/DuckDb.ts"
import { quoteIdent, quoteLiteral } from "../duckdb/sqlText.ts"

export class SqlRefused extends Schema.TaggedError<SqlRefused>()("SqlRefused", { detail: Schema.String }) {
  override get message() {
    return `SQL refused: ${this.detail}`
  }
}

export class SqlFailed extends Schema.TaggedError<SqlFailed>()("SqlFailed", { detail: Schema.String }) {
  override get message() {
    return `SQL failed: ${this.detail}`
  }
}

export class SqlTimeout extends Schema.TaggedError<SqlTimeout>()("SqlTimeout", { ms: Schema.Number }) {
  override get message() {
    return `SQL took longer than ${this.ms} ms`
  }
}

export interface SandboxTable {
  readonly name: string
  readonly schema: TableSchema
  readonly files: ReadonlyArray<string>
}

export interface SqlResult {
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** JSON-safe values: decimals, longs and instants as text. */
  readonly rows: ReadonlyArray<Record<string, unknown>>
  readonly truncated: boolean
}


export const duckType = (type: NestedField["type"]): string => {
  if (typeof type === "string") {
    const d = DECIMAL_TYPE.exec(type)
    if (d) return `DECIMAL(${d[1]}, ${d[2]})`
    switch (type) {
      case "string":
        return "VARCHAR"
      case "long":
        return "BIGINT"
      case "int":
        return "INTEGER"
      case "boolean":
        return "BOOLEAN"
      case "double":
        return "DOUBLE"
      case "float":
        return "FLOAT"
      case "date":
        return "DATE"
      case "timestamptz":
        return "TIMESTAMPTZ"
      case "timestamp":
        return "TIMESTAMP"
      default:
        return "VARCHAR"
    }
  }
  if (type.type === "list") return `${duckType(type.element)}[]`
  if (type.type === "map") return `MAP(${duckType(type.key)}, ${duckType(type.value)})`
  return "VARCHAR"
}

const interruptAfter = <A>(connection: DuckDBConnection, ms: number, work: Promise<A>): Promise<A> => {
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    connection.interrupt()
  }, ms)
  return work.then(
    (a) => {
      clearTimeout(timer)
      return a
    },
    (e) => {
      clearTimeout(timer)
      throw timedOut ? new TimeoutMarker() : e
    }
  )
}

class TimeoutMarker extends Error {}

/** Strips file paths from DuckDB's messages: never tell a client where the warehouse lives. */
const scrub = (message: string, files: ReadonlyArray<string>) => {
  let out = message
  for (const f of files) out = out.replaceAll(f, "<file>")
  return out.replace(/(\/[^\s"']+)+/g, "<path>").split("\n")[0]!.slice(0, 500)
}

/**
 * Runs one user SELECT in a fresh locked-down instance. `parquetOut`: instead of rows,
 * COPY the (limited) result to that file, which the caller streams and deletes.
 */
export const runSandboxed = (options: {
  readonly sql: string
  readonly tables: ReadonlyArray<SandboxTable>
  readonly maxRows: number
  readonly timeoutMs: number
  readonly parquetOut?: string
}): Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout> =>
  Effect.tryPromise({
    try: async () => {
      const files = options.tables.flatMap((t) => t.files)
      const instance = await DuckDBInstance.create(":memory:", {
        autoinstall_known_extensions: "false",
        autoload_known_extensions: "false",
        threads: "1",
        memory_limit: "512MB",
        max_temp_directory_size: "0B"
      })
      const connection = await instance.connect()
      try {
        await connection.run("SET TimeZone = 'UTC'")
        for (const t of options.tables) {
          if (t.files.length > 0) {
            await connection.run(`CREATE VIEW ${quoteIdent(t.name)} AS SELECT * FROM read_parquet([${t.files.map(quoteLiteral).join(", ")}])`)
          } else {
            const columns = t.schema.fields.map((f) => `${quoteIdent(f.name)} ${duckType(f.type)}`).join(", ")
            await connection.run(`CREATE TABLE ${quoteIdent(t.name)} (${columns})`)
          }
        }
        const allowed = [...files, ...(options.parquetOut === undefined ? [] : [options.parquetOut])]
        await connection.run(`SET allowed_paths = [${allowed.map(quoteLiteral).join(", ")}]`)
        await connection.run("SET allowed_directories = []")
        await connection.run("SET enable_external_access = false")
        await connection.run("SET lock_configuration = true")

        // Parse gate: exactly one SELECT statement.
        const parsed = (await executeOne(connection, "SELECT json_serialize_sql($1::VARCHAR) AS j", [options.sql], (s) => s.runAndReadAll()))
          .getRowObjectsJS()[0]
        let tree: { error?: boolean; error_message?: string; statements?: Array<unknown> }
        try {
          tree = JSON.parse(String(parsed?.["j"] ?? "{}"))
        } catch {
          throw new SqlRefused({ detail: "the statement could not be parsed" })
        }
        if (tree.error === true) {
          const why = String(tree.error_message ?? "")
          throw new SqlRefused({
            detail: /Only SELECT/i.test(why) ? "only a SELECT statement is allowed" : `syntax error: ${scrub(why, files)}`
          })
        }
        const count = tree.statements?.length ?? 0
        if (count !== 1) throw new SqlRefused({ detail: count === 0 ? "no statement" : `exactly one statement is allowed, got ${count}` })

        if (options.parquetOut !== undefined) {
          await interruptAfter(
            connection,
            options.timeoutMs,
            connection.run(`COPY (SELECT * FROM (\n${options.sql}\n) LIMIT ${Math.floor(options.maxRows)}) TO ${quoteLiteral(options.parquetOut)} (FORMAT parquet, COMPRESSION zstd)`)
          )
          return { columns: [], rows: [], truncated: false }
        }
        return await interruptAfter(connection, options.timeoutMs, (async () => {
          const result = await connection.stream(options.sql)
          const names = result.deduplicatedColumnNames()
          const columns = names.map((name, i) => ({ name, type: result.columnType(i).toString() }))
          const rows: Array<Record<string, unknown>> = []
          let truncated = false
          while (true) {
            const chunk = await result.fetchChunk()
            if (chunk === null || chunk.rowCount === 0) break
            for (const values of chunk.convertRows(JsonDuckDBValueConverter)) {
              if (rows.length >= options.maxRows) {
                truncated = true
                break
              }
              const row: Record<string, unknown> = {}
              names.forEach((n, i) => (row[n] = values[i]))
              rows.push(row)
            }
            if (truncated) break
          }
          return { columns, rows, truncated }
        })())
      } finally {
        connection.closeSync()
        instance.closeSync()
      }
    },
    catch: (e) => {
      if (e instanceof SqlRefused) return e
      if (e instanceof TimeoutMarker) return new SqlTimeout({ ms: options.timeoutMs })
      const message = e instanceof Error ? e.message : String(e)
      if (/Permission Error|disabled by configuration|lock/i.test(message)) {
        return new SqlRefused({ detail: "the statement needs access that is not allowed (files, network, extensions or settings)" })
      }
      if (/INTERRUPT/i.test(message)) return new SqlTimeout({ ms: options.timeoutMs })
      return new SqlFailed({ detail: scrub(message, options.tables.flatMap((t) => t.files)) })
    }
  })

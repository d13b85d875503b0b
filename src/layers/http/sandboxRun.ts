/**
 * One user SELECT on its own locked-down DuckDB instance, in this process (sql.ts): views over the
 * planned files (a globbed path through a plain-named link, `withPlainPaths`), the instance locked
 * down, the statement through the gate (sqlGate.ts), then its rows as JSON within the row limit and
 * byte budget, or its Parquet file; interrupted at the time limit. A sandbox worker's part.
 */
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { interruptibly, useUtcGregorian } from "../duckdb/DuckDb.ts"
import { readParquet } from "../duckdb/readPlan.ts"
import { duckType, GLOB_CHARACTERS, quoteIdent, quoteLiteral } from "../duckdb/sqlText.ts"
import { defaults } from "./config.ts"
import { sandboxLimits } from "./sandboxPool.ts"
import { holdsAddedColumns, type SandboxRequest, type SandboxTable, type SqlResult } from "./sql.ts"
import { SqlFailed, SqlRefused, SqlTimeout } from "./sqlErrors.ts"
import { exactIntegers, widenedDecimals } from "./sqlExactTypes.ts"
import { checkStatement, scrub, withoutEnd } from "./sqlGate.ts"
import { duckDbColumnNames, jsonBytes, toJson } from "./sqlJson.ts"

/**
 * Runs one user SELECT in a fresh locked-down instance, in this process (the sandbox worker's
 * part of `runSandboxed`; no limit holds this process's memory). `parquetOut`: instead of rows,
 * COPY the (limited) result to that file, which the caller streams and deletes (DuckDB
 * writes it within the instance's memory limit, so the byte budget does not apply; in a worker,
 * `sandboxLimits.fileBytes` bounds it);
 * `truncatedBy` says whether the row limit left rows out.
 * `maxBytes`: budget of the rows' JSON (default `K2_API_SQL_MAX_BYTES`'s).
 */
export const runInThisProcess = (options: SandboxRequest): Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout> =>
  // An interruption (the client gone) stops the statement and waits until it settles, so the
  // two-at-once limit holds. Abandoned, a statement ran on to the time limit, holding one of the
  // libuv threads every DuckDB call of the process needs.
  Effect.suspend(() => {
    const stop = { requested: false, connection: undefined as DuckDBConnection | undefined }
    return interruptibly(() => run(options, stop), (e) => failureOf(e, options), () => {
      stop.requested = true
      stop.connection?.interrupt()
    })
  })

/**
 * `tables` with each file whose path holds a glob character (a warehouse under `/data/wh[1]`) read
 * through a symbolic link of a plain name instead. DuckDB globs such a path: it lists the directories
 * on the way, which the locked-down instance may not (every read was refused as needing access), and
 * reads whatever matches (`wh[1]` matches `wh1`, not itself). `remove` deletes the links. Their
 * directory has the Parquet answers' prefix, so a worker killed mid-run leaves it to the sweep at a
 * server's start (`sweepTempDirs`).
 */
const withPlainPaths = (tables: ReadonlyArray<SandboxTable>): { readonly tables: ReadonlyArray<SandboxTable>; readonly remove: () => void } => {
  const globbed = [...new Set(tables.flatMap((t) => t.files).filter((f) => GLOB_CHARACTERS.test(f)))]
  if (globbed.length === 0) return { tables, remove: () => undefined }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-api-"))
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  try {
    const links = new Map(globbed.map((f, i) => [f, path.join(dir, `${i}.parquet`)]))
    for (const [file, link] of links) fs.symlinkSync(file, link)
    const plain = (f: string) => links.get(f) ?? f
    return {
      remove,
      tables: tables.map((t) => {
        const byName = t.readAs?.byName
        return {
          ...t,
          files: t.files.map(plain),
          ...(t.readAs === undefined ? {} : { readAs: byName === undefined ? t.readAs : { ...t.readAs, byName: { ...byName, paths: byName.paths.map(plain) } } })
        }
      })
    }
  } catch (e) {
    remove()
    throw e
  }
}

/** The run itself; `stop.requested` (set on interruption) keeps the user's statement from starting. */
const run = async (
  options: SandboxRequest,
  stop: { readonly requested: boolean; connection: DuckDBConnection | undefined }
): Promise<SqlResult> => {
  const plain = withPlainPaths(options.tables)
  try {
    return await runOn(plain.tables, options, stop)
  } finally {
    plain.remove()
  }
}

const runOn = async (
  tables: ReadonlyArray<SandboxTable>,
  options: SandboxRequest,
  stop: { readonly requested: boolean; connection: DuckDBConnection | undefined }
): Promise<SqlResult> => {
  const files = tables.flatMap((t) => t.files)
  const instance = await DuckDBInstance.create(":memory:", {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
    threads: String(options.threads ?? 1),
    memory_limit: "512MB",
    max_temp_directory_size: "0B"
  })
  // The finally below closes the instance only once a connection exists.
  const connection = await instance.connect().catch((e: unknown) => {
    instance.closeSync()
    throw e
  })
  stop.connection = connection
  // The interruption may come between two statements, where interrupt() stops nothing.
  const unlessStopped = () => {
    if (stop.requested) throw new Error("interrupted")
  }
  try {
    await useUtcGregorian(connection)
    for (const t of tables) {
      const widened = t.widenDecimals === true ? widenedDecimals(t.schema) : []
      if (t.files.length > 0) {
        // Hive partitioning off: DuckDB would add each file's partition directory as a column. A
        // column another engine added is in newer files only: the first file's columns alone would
        // hide it or fail on a file lacking it. Read by field id, every file has every column already.
        const read = t.readAs ?? { schema: t.schema, byFieldId: false }
        const byName = !read.byFieldId && holdsAddedColumns(read.schema, t.schema) ? ", union_by_name = true" : ""
        const source = readParquet(`[${t.files.map(quoteLiteral).join(", ")}]`, read, byName)
        // Only the columns the files hold can be cast (another engine's older files may lack one).
        const held = new Set((await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRows().map((r) => String(r[0])))
        const cast = widened.filter((c) => held.has(c.name))
        const replace = cast.length === 0
          ? ""
          : ` REPLACE (${cast.map((c) => `CAST(${quoteIdent(c.name)} AS ${c.type}) AS ${quoteIdent(c.name)}`).join(", ")})`
        await connection.run(`CREATE VIEW ${quoteIdent(t.name)} AS SELECT *${replace} FROM ${source}`)
      } else {
        const columns = t.schema.fields.map((f) =>
          `${quoteIdent(f.name)} ${widened.find((c) => c.name === f.name)?.type ?? duckType(f.type)}`
        ).join(", ")
        await connection.run(`CREATE TABLE ${quoteIdent(t.name)} (${columns})`)
      }
    }
    const allowed = [...files, ...(options.parquetOut === undefined ? [] : [options.parquetOut])]
    await connection.run(`SET allowed_paths = [${allowed.map(quoteLiteral).join(", ")}]`)
    await connection.run("SET allowed_directories = []")
    await connection.run("SET enable_external_access = false")
    await connection.run("SET lock_configuration = true")

    // Parse gate: exactly one SELECT statement.
    const tree = await checkStatement(connection, options.sql, files, options.tables.map((t) => t.name))

    if (options.parquetOut !== undefined) {
      const statement = await withoutEnd(connection, options.sql, tree)
      const counted = options.countSql === undefined
        ? statement
        : await withoutEnd(connection, options.countSql, await checkStatement(connection, options.countSql, files, options.tables.map((t) => t.name)))
      const limit = Math.floor(options.maxRows)
      unlessStopped()
      /** Whether the statement (countSql's, unsorted) holds more rows than `limit`: DuckDB counts at most one more. */
      const holdsMore = async () => {
        unlessStopped()
        const more = await connection.runAndReadAll(`SELECT count(*) FROM (SELECT 1 FROM (\n${counted}\n) LIMIT ${limit + 1})`)
        return Number(more.getRows()[0]?.[0] ?? 0) > limit
      }
      return await interruptAfter(connection, options.timeoutMs, (async (): Promise<SqlResult> => {
        // Refused past the limit: counted first, so that no row is sorted or written for it.
        if (options.countFirst === true && await holdsMore()) return { columns: [], rows: [], truncatedBy: "rows" }
        const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM (\n${statement}\n)`)
        const exact = exactIntegers(described.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) })))
        unlessStopped()
        const copied = await connection.runAndReadAll(
          `COPY (SELECT *${exact} FROM (\n${statement}\n) LIMIT ${limit}) TO ${quoteLiteral(options.parquetOut!)} (FORMAT parquet, COMPRESSION zstd)`
        )
        // A file of `limit` rows may have left rows out (unless they were counted first): the statement runs again to count one more.
        if (options.countFirst === true || Number(copied.getRows()[0]?.[0] ?? 0) < limit) return { columns: [], rows: [], truncatedBy: null }
        return { columns: [], rows: [], truncatedBy: await holdsMore() ? "rows" : null }
      })())
    }
    const maxBytes = options.maxBytes ?? defaults.sqlMaxBytes
    unlessStopped()
    return await interruptAfter(connection, options.timeoutMs, (async (): Promise<SqlResult> => {
      const result = await connection.stream(options.sql)
      const names = duckDbColumnNames(result.columnNames())
      const columns = names.map((name, i) => ({ name, type: result.columnType(i).toString() }))
      const rows: Array<Record<string, unknown>> = []
      // Each row repeats its column names in JSON.
      const rowBytes = names.reduce((n, name) => n + jsonBytes(name) + 2, 2)
      // The answer's `columns` (names and types) too: `SELECT *, *, ...` of a long name answered
      // twice the budget in `columns` alone, besides a row as large.
      let bytes = jsonBytes(columns)
      if (bytes > maxBytes) {
        throw new SqlFailed({ detail: `the answer's columns (${columns.length}, their names and types) alone pass the answer's byte budget (${maxBytes} bytes); select fewer or shorter-named columns` })
      }
      while (true) {
        const chunk = await result.fetchChunk()
        if (chunk === null || chunk.rowCount === 0) break
        // Value by value, not chunk.convertRows: a chunk holds up to 2048 rows, and the
        // first value past the budget ends the answer before the rest is converted.
        const vectors = names.map((_, c) => chunk.getColumnVector(c))
        for (let r = 0; r < chunk.rowCount; r++) {
          if (rows.length >= options.maxRows) return { columns, rows, truncatedBy: "rows" }
          // No prototype: a column named __proto__ is a key like any other (on {} it set the prototype).
          const row: Record<string, unknown> = Object.create(null)
          bytes += rowBytes
          for (let c = 0; c < names.length; c++) {
            const vector = vectors[c]!
            const value = toJson(vector.getItem(r), vector.type, toJson)
            bytes += jsonBytes(value)
            if (bytes > maxBytes) return { columns, rows, truncatedBy: "bytes" }
            row[names[c]!] = value
          }
          rows.push(row)
        }
      }
      return { columns, rows, truncatedBy: null }
    })())
  } finally {
    stop.connection = undefined
    connection.closeSync()
    instance.closeSync()
  }
}

/** `work`, the connection interrupted once `ms` have passed (and `work` then failing with TimeoutMarker). */
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

/** What a run that threw failed with: refused, over its time, or DuckDB's message scrubbed of paths. */
const failureOf = (e: unknown, options: SandboxRequest): SqlRefused | SqlFailed | SqlTimeout => {
  if (e instanceof SqlRefused || e instanceof SqlFailed) return e
  if (e instanceof TimeoutMarker) return new SqlTimeout({ ms: options.timeoutMs })
  const message = e instanceof Error ? e.message : String(e)
  const files = options.tables.flatMap((t) => t.files)
  // A planned file removed since (another process's compact): DuckDB, not finding one it did not bind
  // the view with, looks for it as a directory (`<file>/**/*.parquet`), which the locked-down instance
  // refuses. The file's failure, which the caller blames (blameFile), not a refusal.
  if (/Permission Error/i.test(message) && files.some((f) => !fs.existsSync(f))) return new SqlFailed({ detail: scrub(message, files) })
  // Not a bare "lock": `SELECT block ...` failing on its column was answered as a refusal.
  if (/Permission Error|disabled by configuration|configuration has been locked/i.test(message)) {
    return new SqlRefused({ detail: "the statement needs access that is not allowed (files, network, extensions or settings)" })
  }
  if (/INTERRUPT/i.test(message)) return new SqlTimeout({ ms: options.timeoutMs })
  // EFBIG: the worker's `ulimit -f` stopped a Parquet answer (Node ignores SIGXFSZ, which would kill the worker).
  if (/File too large/i.test(message)) {
    return new SqlFailed({ detail: `the answer is larger than the sandbox may write (${sandboxLimits.fileBytes / 1024 ** 2} MiB); narrow it or take fewer rows` })
  }
  return new SqlFailed({ detail: scrub(message, files) })
}

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
 */
import {
  type DuckDBConnection,
  DuckDBDateValue,
  DuckDBInstance,
  DuckDBMapType,
  DuckDBMapValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBValueConverter,
  type Json,
  DuckDBTypeId,
  JsonDuckDBValueConverter
} from "@duckdb/node-api"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Predicate, Schema } from "effect"
import { DECIMAL_TYPE, type Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { definitionOf, type TableName } from "../../domain/tables.ts"
import { floorDiv, formatIsoMicros } from "../../domain/time.ts"
import { setEntry } from "../../domain/wire.ts"
import { executeOne, interruptibly, useUtcGregorian } from "../duckdb/DuckDb.ts"
import { plannedPaths, type ReadAs, readParquet } from "../duckdb/readPlan.ts"
import { duckType, GLOB_CHARACTERS, quoteIdent, quoteLiteral } from "../duckdb/sqlText.ts"
import { defaults } from "./config.ts"

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

/**
 * The sandbox's worker process could not be started (no process could be made, the runtime is
 * missing, it was not ready in time): the server's trouble, not the statement's, and logged as such.
 */
export class SqlUnavailable extends Schema.TaggedError<SqlUnavailable>()("SqlUnavailable", { detail: Schema.String }) {
  override get message() {
    return `the SQL sandbox could not start (${this.detail})`
  }
}

/**
 * Both sandbox slots (SQL, Parquet exports) stayed taken for as long as the run may take: come back
 * later. `perCaller`: refused at once, the caller having that many runs of its own running or waiting.
 */
export class SqlBusy extends Schema.TaggedError<SqlBusy>()("SqlBusy", { ms: Schema.Number, perCaller: Schema.optional(Schema.Number) }) {
  override get message() {
    return this.perCaller !== undefined
      ? `this caller (its key, or its address without one) has ${this.perCaller} SQL statements and Parquet exports running or waiting for the sandbox, as many as it may; retry when one ends`
      : `the SQL sandbox (SQL and Parquet exports, two at once) stayed busy for ${this.ms} ms; retry later`
  }
}

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

/**
 * The top-level decimal columns, as the views show them: DECIMAL(38, scale). DuckDB types the
 * product of two DECIMAL(18, 8) as DECIMAL(18, 16), which overflows past 922.33 (price × quantity
 * of 11.33 × 101 failed); from DECIMAL(38, 8) it is DECIMAL(38, 16), exact, as the engine's VWAP sums.
 */
const widenedDecimals = (schema: TableSchema): ReadonlyArray<{ readonly name: string; readonly type: string }> =>
  schema.fields.flatMap((f) => {
    const d = typeof f.type === "string" ? DECIMAL_TYPE.exec(f.type) : null
    return d === null ? [] : [{ name: f.name, type: `DECIMAL(38, ${d[2]})` }]
  })

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

/**
 * Strips file paths from DuckDB's messages: never tell a client where the warehouse lives. A path
 * starts where a word does (`/x`, `./x`, `../x`): a slash inside a word is the user's own text, or
 * DuckDB's figures, quoted back (`'2024/01/02'`, `482.2 MiB/512.0 MiB`), and was mangled into `<path>`.
 */
const scrub = (message: string, files: ReadonlyArray<string>) => {
  let out = message
  for (const f of files) out = out.replaceAll(f, "<file>")
  return out.replace(/(?<![\w.])\.{0,2}\/[\w.~-][^\s"']*/g, "<path>").split("\n")[0]!.slice(0, 500)
}

/** Table functions that only generate values from their arguments: no file, catalog or setting. */
const TABLE_FUNCTIONS = new Set(["range", "generate_series", "unnest"])

/**
 * Scalar functions and macros (from `duckdb_functions()`) that read settings, variables,
 * plans, view definitions or the statement text, all of which can hold the warehouse's paths
 * (a Parquet answer wraps the statement in a COPY to our temp file). Catalog tables and table
 * functions are kept out by the allow-list instead.
 */
const REFUSED_FUNCTIONS = new Set([
  "current_setting",
  "getvariable",
  "current_query",
  "json_serialize_plan",
  "pg_get_viewdef",
  "pg_get_constraintdef"
])

type Node = Record<string, unknown>
type Cte = { readonly key?: unknown; readonly value?: { readonly query?: { readonly node?: Node } } }

const lower = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : "")

/**
 * Refuses (throws SqlRefused) any table the statement names that is not one of `views` or a
 * CTE in scope, any schema- or catalog-qualified table, table functions outside
 * TABLE_FUNCTIONS, SHOW, and REFUSED_FUNCTIONS, anywhere in the `json_serialize_sql` tree.
 * DuckDB matches names case-insensitively, so do we.
 */
const checkReferences = (statement: unknown, views: ReadonlyArray<string>): void => {
  const allowed = new Set(views.map(lower))
  const only = `only the views ${views.join(", ")} (and the statement's own CTEs) can be read`
  const walk = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) return value.forEach((v) => walk(v, scope))
    if (!Predicate.isObject(value)) return
    const node = value as Node
    // Aggregates and window functions carry function_name too.
    const fn = lower(node["function_name"])
    if (REFUSED_FUNCTIONS.has(fn)) throw new SqlRefused({ detail: `${fn}() is not allowed: it reads server settings or state` })
    switch (node["type"]) {
      case "BASE_TABLE": {
        const name = [node["catalog_name"], node["schema_name"], node["table_name"]].filter((p) => p !== "" && p !== undefined).join(".")
        if (name !== node["table_name"] || !(allowed.has(lower(name)) || scope.has(lower(name)))) {
          throw new SqlRefused({ detail: `${only}, not ${name}` })
        }
        return
      }
      case "TABLE_FUNCTION": {
        const f = Predicate.isObject(node["function"]) ? node["function"] as Node : {}
        const name = lower(f["function_name"])
        if (!TABLE_FUNCTIONS.has(name) || (f["schema"] ?? "") !== "" || (f["catalog"] ?? "") !== "") {
          throw new SqlRefused({ detail: `${only}; the table function ${name}() is not allowed (allowed: ${[...TABLE_FUNCTIONS].join(", ")})` })
        }
        break
      }
      case "SHOW_REF":
        // DESCRIBE / SUMMARIZE carry the query they describe (walked below); SHOW TABLES etc. read the catalog.
        if (!Predicate.isObject(node["query"])) throw new SqlRefused({ detail: `${only}; SHOW is not allowed` })
        break
    }
    // A CTE's name is in scope for the later CTEs and the query, and in its own body only in the
    // recursive part (`right`) of a recursive body: elsewhere DuckDB resolves the name to the
    // catalog (WITH duckdb_views AS (SELECT * FROM duckdb_views) reads the real one, and so does
    // the anchor of WITH RECURSIVE duckdb_views AS (SELECT sql FROM duckdb_views UNION ...)).
    const ctes = Predicate.isObject(node["cte_map"]) ? (node["cte_map"] as { map?: unknown }).map : undefined
    let inner = scope
    if (Array.isArray(ctes)) {
      for (const cte of ctes as Array<Cte>) {
        const name = lower(cte.key)
        const body = cte.value?.query?.node
        if (body?.["type"] === "RECURSIVE_CTE_NODE" && lower(body["cte_name"]) === name) {
          const { right, ...anchor } = body
          walk(right, new Set([...inner, name]))
          walk({ ...cte, value: { ...cte.value, query: { ...cte.value?.query, node: anchor } } }, inner)
        } else walk(cte, inner)
        inner = new Set([...inner, name])
      }
    }
    for (const [key, child] of Object.entries(node)) if (key !== "cte_map" || !Array.isArray(ctes)) walk(child, inner)
  }
  walk(statement, new Set())
}

/** `HUGEINT` and `UHUGEINT` in a DuckDB type's text, outside its quoted names (struct fields) and ENUM values. */
const HUGE_INTEGER = /"(?:[^"]|"")*"|'(?:[^']|'')*'|\bU?HUGEINT\b/g

/**
 * A Parquet answer's `REPLACE` clause for its columns (`DESCRIBE`d: names and types) holding 128-bit
 * integers, anywhere in a nested type too: as DECIMAL(38, 0). DuckDB writes a HUGEINT to Parquet as a
 * DOUBLE, so `sum()` of a BIGINT (a HUGEINT: epoch microseconds, offsets) lost its last digits where
 * JSON and CSV answer them exact; past 38 digits the cast fails (sql_error) instead of rounding.
 */
const exactIntegers = (columns: ReadonlyArray<{ readonly name: string; readonly type: string }>): string => {
  const cast = columns.flatMap(({ name, type }) => {
    let huge = false
    const exact = type.replace(HUGE_INTEGER, (m) => m.startsWith("\"") || m.startsWith("'") ? m : ((huge = true), "DECIMAL(38, 0)"))
    return huge ? [`CAST(${quoteIdent(name)} AS ${exact}) AS ${quoteIdent(name)}`] : []
  })
  return cast.length === 0 ? "" : ` REPLACE (${cast.join(", ")})`
}

/** The parse gate's view of a text: `json_serialize_sql`'s answer (`j`). */
const serialized = async (connection: DuckDBConnection, sql: string) =>
  (await executeOne(connection, "SELECT json_serialize_sql($1::VARCHAR) AS j", [sql], (s) => s.runAndReadAll())).getRowObjectsJS()[0]

/** What may follow a statement's closing `;`: blanks and comments. */
const AFTER_END = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*$/

/**
 * The statement without its closing `;` and what follows it, which the Parquet answer's COPY
 * wrapping would break on (`SELECT 1;` answered JSON, and a syntax error as Parquet). Cut only
 * when the rest still parses to the very tree the gate checked (`tree`), else left as given.
 */
const withoutEnd = async (connection: DuckDBConnection, sql: string, tree: string) => {
  let text = sql
  for (let i = 0; i < 16; i++) {
    const end = text.lastIndexOf(";")
    if (end < 0 || !AFTER_END.test(text.slice(end + 1))) break
    const head = text.slice(0, end)
    if (String((await serialized(connection, head))?.["j"]) !== tree) break
    text = head
  }
  return text
}

/**
 * A result's column names made unique as DuckDB makes them when it writes Parquet (and in any
 * subquery): a repeated name, compared without case, becomes `name_1`, `name_2`..., past any name
 * already taken. So a join's `t.price, q.price` is `price, price_1` in JSON and CSV as in the
 * Parquet answer. (@duckdb/node-api's `deduplicatedColumnNames` says `price:1`, and could make a
 * name another column already had, `a:1`, whose value the second then overwrote in the row.)
 */
const duckDbColumnNames = (names: ReadonlyArray<string>): Array<string> => {
  const seen = new Map<string, number>()
  return names.map((name) => {
    const low = name.toLowerCase()
    const count = seen.get(low)
    if (count === undefined) {
      seen.set(low, 1)
      return name
    }
    let n = count
    let renamed = `${name}_${n}`
    while (seen.has(renamed.toLowerCase())) {
      n += 1
      seen.set(low, n)
      renamed = `${name}_${n}`
    }
    seen.set(renamed.toLowerCase(), 1)
    return renamed
  })
}

/** An instant's microseconds (digits past them truncated, as time.ts does), or undefined if not an instant value. */
const microsOf = (value: unknown): bigint | undefined => {
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) return value.micros
  if (value instanceof DuckDBTimestampMillisecondsValue) return value.millis * 1000n
  if (value instanceof DuckDBTimestampSecondsValue) return value.seconds * 1_000_000n
  if (value instanceof DuckDBTimestampNanosecondsValue) return floorDiv(value.nanos, 1000n)
  return undefined
}

/**
 * @duckdb/node-api's JSON conversion, but instants (TIMESTAMP of any precision, read as UTC like
 * the session, and TIMESTAMPTZ) as the other routes answer them: ISO-8601 UTC with microseconds.
 * Infinities and instants past ±285 years keep DuckDB's text. Nested values (lists, structs) too.
 * A MAP with text keys (vendor_data) is an object, as /v1/trades answers it, not DuckDB's list of
 * {key, value}; other keys keep that list (a number key would turn into text).
 * DATE (yyyy-mm-dd), TIME and decimals are DuckDB's text already, but for a DATE's infinities:
 * the client library writes them as the days they are stored as (5881580-07-11).
 */
const toJson: DuckDBValueConverter<Json> = (value, type) => {
  if (value instanceof DuckDBDateValue && (value.days === DuckDBDateValue.PosInf.days || value.days === DuckDBDateValue.NegInf.days)) {
    return value.days > 0 ? "infinity" : "-infinity"
  }
  const micros = microsOf(value)
  if (micros !== undefined) {
    const n = Number(micros)
    return Number.isSafeInteger(n) ? formatIsoMicros(n) : String(value)
  }
  if (value instanceof DuckDBMapValue && type instanceof DuckDBMapType && type.keyType.typeId === DuckDBTypeId.VARCHAR) {
    const out: Record<string, Json> = {}
    // setEntry: a key "__proto__" would set the prototype and vanish.
    for (const e of value.entries) setEntry(out, e.key as string, toJson(e.value, type.valueType, toJson))
    return out
  }
  return JsonDuckDBValueConverter(value, type, toJson)
}

/**
 * The bytes a value (or column name) takes in the answer's JSON text, as sent: in UTF-8, escapes and
 * number widths included (counted without them, quotes and control characters passed the budget
 * sixfold). One stringify of the value, about what sending it costs anyway.
 */
const jsonBytes = (v: Json): number => Buffer.byteLength(JSON.stringify(v))

export interface SandboxRequest {
  readonly sql: string
  readonly tables: ReadonlyArray<SandboxTable>
  readonly maxRows: number
  readonly maxBytes?: number
  readonly timeoutMs: number
  readonly parquetOut?: string
}

/**
 * The data size (heap and anonymous memory) a sandbox worker process may take. DuckDB's own
 * 512 MB limit holds its operators (joins, sorts, aggregates) but not the values an expression
 * makes: `repeat(s, n)`, `range(0, n)` or `s || s` in a chain of CTEs, 2,048 rows at a time, took
 * gigabytes, until the kernel killed the server.
 */
const SANDBOX_DATA_BYTES = 2 * 1024 ** 3

/**
 * How long past its time limit a run may take before its worker is killed. DuckDB checks for an
 * interrupt between chunks of rows only: an expression slow on each row (`levenshtein` of long
 * strings, `repeat`) ran minutes past the limit, holding one of the two sandbox slots.
 */
const KILL_AFTER_MS = 2_000

/**
 * How long a run with this time limit may hold its sandbox slot once its worker is ready: a client
 * waiting for a slot waits as long (it waited the time limit only, and was told sql_busy just before
 * a run killed past its limit gave the slot up).
 */
export const slotHeldAtMostMs = (timeoutMs: number) => timeoutMs + KILL_AFTER_MS

/**
 * What a sandbox worker is started under besides SANDBOX_DATA_BYTES: how long it may take to load
 * and say it is ready (past that it is killed, SqlUnavailable: a hung start held the run, and its
 * slot, until the client left), and the largest file it may write (`ulimit -f`: a Parquet answer,
 * within the time limit, filled as much disk as there was). A worker keeps the limits it was
 * started with; a test lowers them.
 */
export const sandboxLimits = { startMs: 15_000, fileBytes: 2 * 1024 ** 3 }

/**
 * Workers idle between runs (each takes a second or more to start): as many as the sandbox's slots,
 * each for IDLE_MS at most (one takes some 140 MB).
 */
const idle = new Map<ChildProcess, ReturnType<typeof setTimeout>>()
const MAX_IDLE = 2
const IDLE_MS = 60_000

/** Alive as far as this process knows: not exited, not signalled by it (a kill on its way). */
const usable = (w: ChildProcess) => w.connected && !w.killed && w.exitCode === null && w.signalCode === null

/** Workers that were idle once (the ones that can die unseen before they take a run). */
const idled = new WeakSet<ChildProcess>()

/**
 * The most data a worker may hold (its VmData) and still be kept for another run: half its limit.
 * DuckDB's allocator keeps the address space a run grew into, and the data-size limit counts it: a
 * worker kept after a large aggregate and a gigabyte of list values held its whole 2 GiB, and every
 * later statement needing a block failed on it ("Failed to allocate block"), whoever sent it.
 */
const IDLE_MAX_DATA_BYTES = SANDBOX_DATA_BYTES / 2

/** A process's data size from /proc (Linux); undefined where it cannot be read. */
const dataBytesOf = (pid: number | undefined): number | undefined => {
  try {
    const kb = /^VmData:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return kb === null ? undefined : Number(kb[1]) * 1024
  } catch {
    return undefined
  }
}

const keepIdle = (worker: ChildProcess) => {
  if (idle.size >= MAX_IDLE || !usable(worker) || (dataBytesOf(worker.pid) ?? 0) > IDLE_MAX_DATA_BYTES) return worker.kill("SIGKILL")
  idled.add(worker)
  idle.set(worker, setTimeout(() => {
    idle.delete(worker)
    worker.kill("SIGKILL")
  }, IDLE_MS).unref())
}

/** Ends the idle workers (the server stopping; they would end with it anyway, their channel closed). */
export const stopIdleSandboxes = (): void => {
  for (const [worker, timer] of idle) {
    clearTimeout(timer)
    worker.kill("SIGKILL")
  }
  idle.clear()
}

const workerPath = fileURLToPath(new URL("./sandboxWorker.ts", import.meta.url))

/**
 * Makes the worker the first process the kernel kills when memory runs out (Linux; elsewhere it
 * does nothing). Its data-size limit is its own, not its container's: in a 1 GiB pod, two runs at
 * once can reach the pod's limit, where the kernel kills the process of most memory, serve itself
 * as likely as the worker (docs/operations.md "In a container"). A killed worker fails its run only.
 */
const OOM_FIRST = "echo 1000 2>/dev/null > /proc/self/oom_score_adj"

/**
 * The variables a worker runs with: only those it needs (the shell's and Node's PATH, the home and
 * temp directories, locale and zone, the allocators' settings), none of the server's own (`K2_*`:
 * key hashes, a catalog URL with its password, REST credentials; `OTEL_*` headers; anything else a
 * deployment puts there). The sandbox reads no file of its own choosing; if it ever could, the
 * worker's `/proc/self/environ` holds nothing worth reading.
 */
const WORKER_ENV = /^(?:PATH|UV_THREADPOOL_SIZE|HOME|TMPDIR|TMP|TEMP|TZ|LANG|LANGUAGE|LC_[A-Z_]+|LD_LIBRARY_PATH|DUCKDB_[A-Z_]+|MALLOC_[A-Z_]+)$/
const workerEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && WORKER_ENV.test(name)))

/**
 * A worker loaded and ready for a run: an idle one (unless `fresh`), else a new one (under its
 * data-size and file-size limits, killed if not ready within `sandboxLimits.startMs`).
 */
const startWorker = (fresh = false): Promise<ChildProcess> => {
  for (const [w, timer] of fresh ? [] : idle) {
    idle.delete(w)
    clearTimeout(timer)
    if (usable(w)) return Promise.resolve(w)
  }
  return new Promise((resolve, reject) => {
    const { fileBytes, startMs } = sandboxLimits
    // `ulimit -f` counts 512-byte blocks (POSIX). The worker is told its file limit, for its message.
    const child = spawn(
      "/bin/sh",
      [
        "-c",
        `${OOM_FIRST}; ulimit -d ${Math.floor(SANDBOX_DATA_BYTES / 1024)} && ulimit -f ${Math.floor(fileBytes / 512)} && exec "$0" "$@"`,
        process.execPath,
        "--disable-warning=ExperimentalWarning",
        workerPath,
        String(fileBytes)
      ],
      { stdio: ["ignore", "inherit", "inherit", "ipc"], env: workerEnv(process.env) }
    )
    const failed = (why: string) => {
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(new SqlUnavailable({ detail: why }))
    }
    const timer = setTimeout(() => failed(`not ready within ${startMs} ms`), startMs)
    const exited = (code: number | null, signal: NodeJS.Signals | null) => failed(`exit ${code ?? signal}`)
    // Always heard (an 'error' no one hears throws): a worker whose channel failed is of no more use.
    child.on("error", (e: NodeJS.ErrnoException) => {
      child.kill("SIGKILL")
      failed(e.code ?? "spawn failed")
    })
    child.once("exit", exited)
    child.once("message", (m) => {
      child.off("exit", exited)
      clearTimeout(timer)
      if (m === "ready") resolve(child)
      else failed("unexpected message")
    })
  })
}

const failureFrom = (f: { readonly _tag?: string; readonly detail?: string; readonly ms?: number }, options: SandboxRequest) =>
  f._tag === "SqlRefused"
    ? new SqlRefused({ detail: f.detail ?? "" })
    : f._tag === "SqlTimeout"
    ? new SqlTimeout({ ms: f.ms ?? options.timeoutMs })
    : new SqlFailed({ detail: f.detail ?? "" })

/**
 * Runs one user SELECT in a fresh locked-down instance (`runInThisProcess`) in a worker process
 * held to SANDBOX_DATA_BYTES, killed KILL_AFTER_MS past the time limit (SqlTimeout) or as soon as
 * the run is interrupted (the client gone), and waited for until it has exited, so the
 * two-at-once limit holds. A worker that ended its run is kept for the next one.
 */
export const runSandboxed = (options: SandboxRequest): Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable> =>
  Effect.callback<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable>((resume) => {
    let ended = false
    let timedOut = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const end = (outcome: Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable>) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      resume(outcome)
    }
    let started = startWorker()
    const runOn = (c: ChildProcess, reused: boolean) => {
      if (ended) return
      // The worker has the run (it says so first): an idle worker that died unseen (killed, its
      // exit not yet heard) never does, and the run goes to a new one instead of failing.
      let taken = false
      c.ref()
      c.on("message", (m: "running" | { done?: SqlResult; failed?: { _tag?: string; detail?: string; ms?: number } }) => {
        if (m === "running") return void (taken = true)
        c.removeAllListeners("message")
        c.removeAllListeners("exit")
        c.unref()
        // The channel, unreferenced, keeps neither a server nor a test process from exiting.
        ;(c.channel as { unref?: () => void } | undefined)?.unref?.()
        keepIdle(c)
        end(m.done !== undefined ? Effect.succeed(m.done) : Effect.fail(failureFrom(m.failed ?? {}, options)))
      })
      c.once("exit", (code, signal) => {
        c.removeAllListeners("message")
        if (reused && !taken && !timedOut && !ended) {
          clearTimeout(timer)
          started = startWorker(true)
          return void started.then((n) => runOn(n, false), unavailable)
        }
        end(Effect.fail(
          timedOut ? new SqlTimeout({ ms: options.timeoutMs }) : new SqlFailed({
            detail: `the statement took more memory than the sandbox allows (${SANDBOX_DATA_BYTES / 1024 ** 2} MiB), or its process failed (${code ?? signal})`
          })
        ))
      })
      ;(c.channel as { ref?: () => void } | undefined)?.ref?.()
      // From the run's start: a worker's start (a second or more) is not the statement's time.
      timer = setTimeout(() => {
        timedOut = true
        c.kill("SIGKILL")
      }, options.timeoutMs + KILL_AFTER_MS)
      // A channel closed meanwhile (the worker died idle): its exit, heard above, hands the run on.
      c.send({ run: options }, (e) => e === null ? undefined : void c.kill("SIGKILL"))
    }
    const unavailable = (e: unknown) => end(Effect.fail(e instanceof SqlUnavailable ? e : new SqlUnavailable({ detail: String(e) })))
    started.then((c) => runOn(c, idled.has(c)), unavailable)
    // Interrupted (the client gone): the worker, once started, is killed and waited for, so
    // clients that leave at once cannot have more workers starting or running than the slots.
    return Effect.promise(() => {
      ended = true
      clearTimeout(timer)
      return started.then((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return
        const gone = new Promise<void>((resolve) => c.once("exit", () => resolve()))
        c.kill("SIGKILL")
        return gone
      }, () => undefined)
    })
  })

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
    threads: "1",
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
    const parsed = (await serialized(connection, options.sql))
    let tree: { error?: boolean; error_message?: string; statements?: Array<unknown> }
    try {
      tree = JSON.parse(String(parsed?.["j"] ?? "{}"))
    } catch {
      throw new SqlRefused({ detail: "the statement could not be parsed" })
    }
    if (tree.error === true) {
      const why = String(tree.error_message ?? "")
      // A PIVOT without its values is two statements to DuckDB (one finds the values): not one SELECT.
      const notSelect = /\bPIVOT\b/i.test(options.sql)
        ? "only a SELECT statement is allowed: a PIVOT needs its values listed here (PIVOT ... ON side IN ('BUY', 'SELL') ...)"
        : "only a SELECT statement is allowed"
      throw new SqlRefused({ detail: /Only SELECT/i.test(why) ? notSelect : `syntax error: ${scrub(why, files)}` })
    }
    const count = tree.statements?.length ?? 0
    if (count !== 1) throw new SqlRefused({ detail: count === 0 ? "no statement" : `exactly one statement is allowed, got ${count}` })
    checkReferences(tree.statements, options.tables.map((t) => t.name))

    if (options.parquetOut !== undefined) {
      const statement = await withoutEnd(connection, options.sql, String(parsed?.["j"]))
      const limit = Math.floor(options.maxRows)
      unlessStopped()
      return await interruptAfter(connection, options.timeoutMs, (async (): Promise<SqlResult> => {
        const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM (\n${statement}\n)`)
        const exact = exactIntegers(described.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) })))
        unlessStopped()
        const copied = await connection.runAndReadAll(
          `COPY (SELECT *${exact} FROM (\n${statement}\n) LIMIT ${limit}) TO ${quoteLiteral(options.parquetOut!)} (FORMAT parquet, COMPRESSION zstd)`
        )
        // A file of `limit` rows may have left rows out: the statement runs again to count one more.
        if (Number(copied.getRows()[0]?.[0] ?? 0) < limit) return { columns: [], rows: [], truncatedBy: null }
        unlessStopped()
        const more = await connection.runAndReadAll(`SELECT count(*) FROM (SELECT 1 FROM (\n${statement}\n) LIMIT ${limit + 1})`)
        return { columns: [], rows: [], truncatedBy: Number(more.getRows()[0]?.[0] ?? 0) > limit ? "rows" : null }
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

/** What a run that threw failed with: refused, over its time, or DuckDB's message scrubbed of paths. */
const failureOf = (e: unknown, options: SandboxRequest): SqlRefused | SqlFailed | SqlTimeout => {
  if (e instanceof SqlRefused || e instanceof SqlFailed) return e
  if (e instanceof TimeoutMarker) return new SqlTimeout({ ms: options.timeoutMs })
  const message = e instanceof Error ? e.message : String(e)
  // Not a bare "lock": `SELECT block ...` failing on its column was answered as a refusal.
  if (/Permission Error|disabled by configuration|configuration has been locked/i.test(message)) {
    return new SqlRefused({ detail: "the statement needs access that is not allowed (files, network, extensions or settings)" })
  }
  if (/INTERRUPT/i.test(message)) return new SqlTimeout({ ms: options.timeoutMs })
  // EFBIG: the worker's `ulimit -f` stopped a Parquet answer (Node ignores SIGXFSZ, which would kill the worker).
  if (/File too large/i.test(message)) {
    return new SqlFailed({ detail: `the answer is larger than the sandbox may write (${sandboxLimits.fileBytes / 1024 ** 2} MiB); narrow it or take fewer rows` })
  }
  return new SqlFailed({ detail: scrub(message, options.tables.flatMap((t) => t.files)) })
}

/** The SQL sandbox on its own: the answer is bounded in bytes as well as in rows. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { definitionOf } from "../../../src/domain/tables.ts"
import { runSandboxed } from "../../../src/layers/http/sandboxPool.ts"

const run = (sql: string, limits: { maxRows?: number; maxBytes?: number } = {}) =>
  runSandboxed({ sql, tables: [], maxRows: limits.maxRows ?? 100_000, timeoutMs: 30_000, ...(limits.maxBytes === undefined ? {} : { maxBytes: limits.maxBytes }) })

describe("SQL sandbox limits", () => {
  it.effect("rows: cut at the limit, and says so", () =>
    Effect.gen(function*() {
      const whole = yield* run("SELECT * FROM range(5)", { maxRows: 5 })
      assert.strictEqual(whole.rows.length, 5)
      assert.isNull(whole.truncatedBy)
      const cut = yield* run("SELECT * FROM range(6)", { maxRows: 5 })
      assert.strictEqual(cut.rows.length, 5)
      assert.strictEqual(cut.truncatedBy, "rows")
    }))

  it.effect("bytes: fetching stops once the converted rows pass the budget", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT i, repeat('x', 1000) AS s FROM range(100) t(i)", { maxBytes: 10_000 })
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 8)
      assert.isAtMost(JSON.stringify(r.rows).length, 10_000)
      // The kept rows are the first ones, whole.
      assert.deepStrictEqual(r.rows.map((row) => row["i"]), r.rows.map((_, i) => String(i)))
      assert.strictEqual((r.rows[0]!["s"] as string).length, 1000)
    }))

  it.effect("bytes: a single row larger than the whole budget is not kept", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT 1 AS n, repeat('x', 100000) AS s", { maxBytes: 10_000 })
      assert.deepStrictEqual([r.rows.length, r.truncatedBy], [0, "bytes"])
    }))

  it.effect("bytes: counted in UTF-8, as the answer is sent: multi-byte text does not pass the budget", () =>
    Effect.gen(function*() {
      // '€' is one UTF-16 unit and three UTF-8 bytes.
      const r = yield* run("SELECT i, repeat('€', 1000) AS s FROM range(100) t(i)", { maxBytes: 10_000 })
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 2)
      assert.isAtMost(Buffer.byteLength(JSON.stringify(r.rows)), 10_000)
    }))

  it.effect("bytes: counted as sent, escapes and number widths too: quotes, control characters and long doubles do not pass the budget", () =>
    Effect.gen(function*() {
      // 500 quotes are 1,000 bytes of JSON, 500 chr(1) 3,000; the double 23 and the column name 7 (it ran to 4 times the budget).
      const r = yield* run(
        `SELECT i, repeat('"', 500) || repeat(chr(1), 500) AS s, [1.2345678901234567e-300, i / 3] AS "a""b\\" FROM range(100) t(i)`,
        { maxBytes: 20_000 }
      )
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 3)
      assert.isAtMost(Buffer.byteLength(JSON.stringify(r.rows)), 20_000)
    }))

  it.effect("bytes: the answer's columns (names and types, sent once more besides each row) count too: `SELECT *, *, ...` of a long name does not pass the budget", () =>
    Effect.gen(function*() {
      // 30 columns of a 1,000-character name: 30 KB of `columns` and 30 KB a row. The budget (a
      // 32 MiB default) let 3,400 stars over a 9,000-character name answer 61 MB.
      const name = "x".repeat(1000)
      const sql = `WITH t AS (SELECT 1 AS "${name}") SELECT ${Array.from({ length: 30 }, () => "*").join(", ")} FROM t`
      const cut = yield* run(sql, { maxBytes: 50_000 })
      const sent = (r: { columns: unknown; rows: unknown }) => Buffer.byteLength(JSON.stringify({ data: r.rows, columns: r.columns }))
      assert.strictEqual(cut.truncatedBy, "bytes")
      assert.isAtMost(sent(cut), 50_000)
      // Columns alone past the budget: no answer to send, said so.
      const wide = yield* Effect.result(run(sql, { maxBytes: 20_000 }))
      assert.strictEqual(wide._tag === "Failure" ? wide.failure._tag : "answered", "SqlFailed")
      assert.match(wide._tag === "Failure" ? wide.failure.message : "", /^SQL failed: the answer's columns \(30, /)
      // Room for both: whole.
      const whole = yield* run(sql, { maxBytes: 100_000 })
      assert.deepStrictEqual([whole.rows.length, whole.truncatedBy], [1, null])
    }))

  it.effect("bytes: the default budget (32 MiB) holds back 100 strings of 1 MB", () =>
    Effect.gen(function*() {
      const r = yield* run("SELECT repeat('x', 1000000) AS s FROM range(100)")
      assert.strictEqual(r.truncatedBy, "bytes")
      assert.isAtLeast(r.rows.length, 30)
      assert.isBelow(r.rows.length, 34)
    }))
})

describe("SQL sandbox allow-list", () => {
  it.effect("the allow-list refuses settings functions and table functions other than range, generate_series and unnest", () =>
    Effect.gen(function*() {
      for (const sql of ["SELECT current_setting('allowed_paths')", "SELECT * FROM duckdb_settings()", "SELECT * FROM read_text('/etc/hostname')"]) {
        const r = yield* Effect.result(run(sql))
        assert.strictEqual(r._tag === "Failure" ? r.failure._tag : "answered", "SqlRefused", sql)
      }
      assert.strictEqual((yield* run("SELECT * FROM generate_series(1, 3)")).rows.length, 3)
    }))

  it.effect("a PIVOT without its IN list is refused saying to give one (not 'only a SELECT'); with it, answered", () =>
    Effect.gen(function*() {
      const values = "(VALUES ('BHP', 'BUY'), ('BHP', 'SELL'), ('CBA', 'BUY')) t(symbol, side)"
      const r = yield* Effect.result(run(`SELECT * FROM (PIVOT ${values} ON side USING count(*) GROUP BY symbol)`))
      assert.strictEqual(r._tag === "Failure" ? r.failure._tag : "answered", "SqlRefused")
      if (r._tag === "Failure") assert.include(r.failure.message, "a PIVOT needs its values listed here")
      const answered = yield* run(`SELECT * FROM (PIVOT ${values} ON side IN ('BUY', 'SELL') USING count(*) GROUP BY symbol) ORDER BY symbol`)
      assert.strictEqual(answered.rows.length, 2)
    }))
  it.effect("a recursive CTE's anchor does not see the CTE's own name: naming a catalog view there is refused", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "warehouse-secret.parquet")
      const instance = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
      const connection = yield* Effect.promise(() => instance.connect())
      yield* Effect.promise(() => connection.run(`COPY (SELECT 1 AS x) TO '${file}' (FORMAT parquet)`))
      connection.closeSync()
      instance.closeSync()
      const tables = [{ name: "trades", schema: definitionOf("trades").schema, files: [file] }]
      // DuckDB binds the anchor (left of the UNION) without the CTE: there duckdb_views is the
      // catalog's, whose view definitions hold the warehouse's file paths.
      const sql = "WITH RECURSIVE duckdb_views AS (SELECT sql FROM duckdb_views UNION SELECT sql FROM duckdb_views) SELECT * FROM duckdb_views"
      const r = yield* Effect.result(runSandboxed({ sql, tables, maxRows: 10, timeoutMs: 30_000 }))
      assert.isTrue(r._tag === "Failure", `answered ${JSON.stringify(r._tag === "Success" ? r.success.rows : null)}`)
      assert.strictEqual(r._tag === "Failure" ? r.failure._tag : "", "SqlRefused")
      // The recursive part does read the CTE: a recursive CTE stays allowed.
      const ok = yield* runSandboxed({
        sql: "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t",
        tables,
        maxRows: 10,
        timeoutMs: 30_000
      })
      assert.deepStrictEqual(ok.rows.map((row) => row["n"]), [1, 2, 3])
    }).pipe(Effect.scoped))
})

describe("SQL sandbox values", () => {
  it.effect("instants are ISO-8601 UTC with microseconds, as every other route answers them; dates, times and decimals as text", () =>
    Effect.gen(function*() {
      const r = yield* run(`SELECT
        TIMESTAMPTZ '2024-01-02 10:00:00.123456+00' AS tz,
        TIMESTAMP '1969-12-31 23:59:59.999999' AS ts,
        TIMESTAMP_MS '2024-01-02 10:00:00.5' AS ms,
        TIMESTAMP_S '2024-01-02 10:00:00' AS s,
        '2024-01-02 10:00:00.1234567'::TIMESTAMP_NS AS ns,
        [TIMESTAMPTZ '2024-01-02 10:00:00+00'] AS list,
        {'at': TIMESTAMPTZ '2024-01-02 10:00:00+00'} AS struct,
        'infinity'::TIMESTAMPTZ AS inf,
        NULL::TIMESTAMPTZ AS missing,
        DATE '2024-01-02' AS d,
        TIME '10:00:00.25' AS t,
        1.5::DECIMAL(18, 8) AS p`)
      assert.deepStrictEqual(r.rows, [{
        tz: "2024-01-02T10:00:00.123456Z",
        ts: "1969-12-31T23:59:59.999999Z",
        ms: "2024-01-02T10:00:00.500000Z",
        s: "2024-01-02T10:00:00.000000Z",
        // Digits past the microsecond are truncated, as everywhere (time.ts).
        ns: "2024-01-02T10:00:00.123456Z",
        list: ["2024-01-02T10:00:00.000000Z"],
        struct: { at: "2024-01-02T10:00:00.000000Z" },
        // No instant to write: DuckDB's word for it.
        inf: "infinity",
        missing: null,
        d: "2024-01-02",
        t: "10:00:00.25",
        p: "1.50000000"
      }])
    }))
  it.effect("a MAP with text keys (vendor_data) is an object, as /v1/trades answers it; other keys keep DuckDB's key/value list", () =>
    Effect.gen(function*() {
      const r = yield* run(`SELECT
        MAP {'say "hi"': 'a,b', '__proto__': '', 'Zürich': NULL} AS text_keys,
        MAP {}::MAP(VARCHAR, VARCHAR) AS empty,
        [MAP {'at': TIMESTAMPTZ '2024-01-02 10:00:00+00'}] AS nested,
        MAP {1: 'one'} AS int_keys,
        NULL::MAP(VARCHAR, VARCHAR) AS missing`)
      const row = r.rows[0] as Record<string, unknown>
      // The JSON text: an object literal's "__proto__" would set its prototype, not a key.
      assert.strictEqual(JSON.stringify(row["text_keys"]), `{"say \\"hi\\"":"a,b","__proto__":"","Zürich":null}`)
      assert.deepStrictEqual(row["empty"], {})
      assert.deepStrictEqual(row["nested"], [{ at: "2024-01-02T10:00:00.000000Z" }])
      assert.deepStrictEqual(row["int_keys"], [{ key: 1, value: "one" }])
      assert.strictEqual(row["missing"], null)
    }))
})

describe("SQL sandbox decimals", () => {
  // DuckDB types DECIMAL(18, 8) × DECIMAL(18, 8) as DECIMAL(18, 16), which overflows past a product
  // of 922.33: the first notional an analyst asks for (11.33 × 101) failed. The views widen them.
  it.effect("price × quantity of the tables' DECIMAL(18, 8) columns is exact, not an overflow", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "trades.parquet")
      yield* Effect.promise(async () => {
        const db = await DuckDBInstance.create(":memory:")
        const c = await db.connect()
        await c.run(`COPY (SELECT 11.33::DECIMAL(18, 8) AS price, 101::DECIMAL(18, 8) AS quantity
          UNION ALL SELECT 99999999.99999999, 9999999999.99999999) TO '${file}' (FORMAT parquet)`)
        c.closeSync()
        db.closeSync()
      })
      const tables = [{ name: "trades", schema: definitionOf("trades").schema, files: [file], widenDecimals: true }]
      const r = yield* runSandboxed({
        sql: "SELECT sum(price * quantity) AS notional, min(price * quantity) AS least, max(price) AS top FROM trades",
        tables,
        maxRows: 10,
        timeoutMs: 30_000
      })
      assert.deepStrictEqual(r.rows, [{
        notional: "1000000000000001043.3300000000000001",
        least: "1144.3300000000000000",
        top: "99999999.99999999"
      }])
      // Exports of trades and quotes (no widenDecimals) keep the table's types.
      const exported = yield* runSandboxed({
        sql: "SELECT typeof(price) AS t FROM trades LIMIT 1",
        tables: tables.map(({ widenDecimals: _, ...t }) => t),
        maxRows: 10,
        timeoutMs: 30_000
      })
      assert.deepStrictEqual(exported.rows, [{ t: "DECIMAL(18,8)" }])
    }).pipe(Effect.scoped))
})

describe("SQL sandbox column names", () => {
  it.effect("a column named __proto__ keeps its value (assigned to a plain object, it set the row's prototype and vanished)", () =>
    Effect.gen(function*() {
      const r = yield* run(`SELECT 1 AS "__proto__", 2 AS b`)
      assert.strictEqual(JSON.stringify(r.rows), `[{"__proto__":1,"b":2}]`)
      assert.strictEqual(r.rows[0]!["__proto__"], 1)
    }))

  it.effect("columns of one name (a join's t.price, q.price) are told apart as DuckDB names them, the same in JSON, CSV and Parquet, and none is lost", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const db = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
      const connection = yield* Effect.promise(() => db.connect())
      yield* Effect.addFinalizer(() => Effect.sync(() => connection.closeSync()))
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
        ["SELECT 1 AS price, 2 AS price", ["price", "price_1"]],
        ["SELECT 1 AS a, 2 AS a, 3 AS a", ["a", "a_1", "a_2"]],
        // A name the user gave that the renaming would make: renamed past it, not over it.
        ["SELECT 1 AS a, 2 AS a, 3 AS a_1", ["a", "a_1", "a_1_1"]],
        ["SELECT 1 AS a_1, 2 AS a, 3 AS a", ["a_1", "a", "a_2"]],
        // Past every taken name in turn, not only the first.
        ["SELECT 1 AS a, 2 AS a_1, 3 AS a_2, 4 AS a", ["a", "a_1", "a_2", "a_3"]],
        // @duckdb/node-api's own renaming (`a:1`) met this one and dropped the first column's value.
        [`SELECT 1 AS "a:1", 2 AS a, 3 AS a`, ["a:1", "a", "a_1"]],
        // DuckDB's names are case-insensitive: a second `A` is a duplicate of `a`.
        [`SELECT 1 AS a, 2 AS "A"`, ["a", "A_1"]]
      ]
      for (const [i, [sql, names]] of cases.entries()) {
        const r = yield* run(sql)
        assert.deepStrictEqual(r.columns.map((c) => c.name), names, sql)
        // Every value kept, under its own name.
        assert.deepStrictEqual(r.rows.map((row) => Object.entries(row)), [names.map((n, j): [string, unknown] => [n, j + 1])], sql)
        const out = path.join(dir, `${i}.parquet`)
        yield* runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000, parquetOut: out })
        const written = yield* Effect.promise(() => connection.runAndReadAll(`SELECT * FROM read_parquet('${out}')`))
        assert.deepStrictEqual(written.columnNames(), names, `${sql} (Parquet)`)
      }
    }).pipe(Effect.scoped))
})

describe("SQL sandbox Parquet answers", () => {
  it.effect("a statement ending in `;` (and a comment after it) answers Parquet as it answers JSON", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      for (const [i, sql] of ["SELECT 42 AS n;", "SELECT 42 AS n ;\n", "SELECT 42 AS n; -- the answer", "SELECT 42 AS n;;"].entries()) {
        const json = yield* runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000 })
        assert.deepStrictEqual(json.rows, [{ n: 42 }], sql)
        const out = path.join(dir, `${i}.parquet`)
        const written = yield* Effect.result(runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000, parquetOut: out }))
        assert.strictEqual(written._tag, "Success", `${sql}: ${written._tag === "Failure" ? written.failure.message : ""}`)
        assert.isTrue(fs.statSync(out).size > 0, sql)
      }
    }).pipe(Effect.scoped))

  it.effect("128-bit integers (sum() of a BIGINT is a HUGEINT) keep every digit in Parquet, as in JSON: DECIMAL(38, 0), not a DOUBLE", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      // A sum of epoch microseconds (5e18 over a few thousand trades) was written as the DOUBLE 5008529104127550000.
      const sql = `SELECT sum(x) AS s, 170141183460469231731687303715884 ::UHUGEINT AS u, [9007199254740993::HUGEINT] AS l,
        {'h': 9007199254740995::HUGEINT, 'e': 'HUGEINT'::ENUM('HUGEINT')} AS "HUGEINT", 7 AS plain
        FROM (VALUES (5008529104127550184::BIGINT), (1::BIGINT)) v(x)`
      const json = yield* runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000 })
      assert.deepStrictEqual(json.rows, [{
        s: "5008529104127550185",
        u: "170141183460469231731687303715884",
        l: ["9007199254740993"],
        HUGEINT: { h: "9007199254740995", e: "HUGEINT" },
        plain: 7
      }])
      const out = path.join(dir, "huge.parquet")
      yield* runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000, parquetOut: out })
      const instance = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
      const connection = yield* Effect.promise(() => instance.connect())
      yield* Effect.addFinalizer(() => Effect.sync(() => (connection.closeSync(), instance.closeSync())))
      const read = yield* Effect.promise(() =>
        connection.runAndReadAll(`SELECT s::VARCHAR AS s, u::VARCHAR AS u, l::VARCHAR AS l, "HUGEINT".h::VARCHAR AS h, typeof(s) AS t, plain FROM read_parquet('${out}')`)
      )
      assert.deepStrictEqual(read.getRowObjectsJson(), [{
        s: "5008529104127550185",
        u: "170141183460469231731687303715884",
        l: "[9007199254740993]",
        h: "9007199254740995",
        t: "DECIMAL(38,0)",
        plain: 7
      }])
      // Past DECIMAL(38, 0) (38 digits): an error saying so, never a rounded number.
      const over = yield* Effect.result(runSandboxed({
        sql: "SELECT 170141183460469231731687303715884105727::HUGEINT AS h",
        tables: [],
        maxRows: 10,
        timeoutMs: 30_000,
        parquetOut: path.join(dir, "over.parquet")
      }))
      assert.strictEqual(over._tag === "Failure" ? over.failure._tag : "written", "SqlFailed")
    }).pipe(Effect.scoped))
})

describe("SQL sandbox errors", () => {
  it.effect("a mistake in the statement is sql_error with DuckDB's reason, even when the reason names a column like `block`", () =>
    Effect.gen(function*() {
      for (const sql of ["SELECT block FROM range(1)", "SELECT clock FROM range(1)"]) {
        const r = yield* Effect.result(runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 30_000 }))
        assert.strictEqual(r._tag === "Failure" ? r.failure._tag : "Success", "SqlFailed", sql)
        assert.include(r._tag === "Failure" ? r.failure.message : "", "not found", sql)
      }
    }))
})

describe("SQL sandbox interruption", () => {
  it.live("an interrupted run (its client gone) stops its statement: none is left holding a libuv thread until the time limit", () =>
    Effect.gen(function*() {
      // Endless at one thread: only the interruption ends it within the test (an interrupt that
      // DuckDB lost would leave the run to the 10-minute limit, and the test to its own time limit).
      const endless = "SELECT count(*) FROM range(9000000000000) t(x) WHERE x % 7 = 3"
      // More than the libuv pool's 4 threads, which every DuckDB call of the process (and zlib, fs) shares.
      const fibers = yield* Effect.forEach(Array.from({ length: 6 }), () =>
        Effect.forkChild(runSandboxed({ sql: endless, tables: [], maxRows: 10, timeoutMs: 600_000 })))
      yield* Effect.sleep("1 second")
      // All at once, as clients leave: one by one, the first could be a run still queued for a
      // thread, waiting for runs not yet interrupted (a deadlock of the test, not of the sandbox).
      yield* Fiber.interruptAll(fibers)
      const next = yield* run("SELECT 42 AS n").pipe(Effect.timeoutOption(Duration.seconds(15)))
      assert.isTrue(next._tag === "Some", "a run after the interrupted ones found every libuv thread still busy with them")
      assert.deepStrictEqual(next._tag === "Some" ? next.value.rows : [], [{ n: 42 }])
    }), 120_000)
})

describe("SQL sandbox error messages", () => {
  const failure = (sql: string, tables: Parameters<typeof runSandboxed>[0]["tables"] = []) =>
    Effect.gen(function*() {
      const r = yield* Effect.result(runSandboxed({ sql, tables, maxRows: 10, timeoutMs: 30_000 }))
      assert.isTrue(r._tag === "Failure", sql)
      return r._tag === "Failure" ? r.failure : undefined
    })

  it.effect("the user's own text with a slash in it is quoted as given, not taken for a path ('2024/01/02' read as '2024<path>')", () =>
    Effect.gen(function*() {
      const date = yield* failure("SELECT strptime('2024/01/02', '%Y-%m-%d')")
      assert.strictEqual(date?._tag, "SqlFailed")
      assert.include(date?.message, `"2024/01/02"`)
      const cast = yield* failure("SELECT 'x/y'::INTEGER")
      assert.include(cast?.message, "'x/y'")
      assert.notInclude(cast?.message, "<path>")
    }))

  it.effect("a planned file's path is still never told", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      // Not Parquet: DuckDB names the file it could not read.
      const file = path.join(dir, "warehouse-secret.parquet")
      fs.writeFileSync(file, "not parquet at all")
      const tables = [{ name: "trades", schema: definitionOf("trades").schema, files: [file] }]
      const e = yield* failure("SELECT count(*) FROM trades", tables)
      assert.strictEqual(e?._tag, "SqlFailed")
      assert.notInclude(e?.message, dir)
      assert.notInclude(e?.message, "warehouse-secret")
    }).pipe(Effect.scoped))
})

describe("SQL sandbox file paths", () => {
  it.effect("a warehouse path holding DuckDB's glob characters (`[`, `*`, `?`) reads exactly the planned files, in JSON and Parquet", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sql-test-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const instance = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
      const connection = yield* Effect.promise(() => instance.connect())
      const write = (file: string, x: number) => {
        fs.mkdirSync(path.dirname(file), { recursive: true })
        return Effect.promise(() => connection.run(`COPY (SELECT ${x} AS x) TO '${file}' (FORMAT parquet)`))
      }
      // Each planned file has a sibling its path matches as a glob (`wh[1]` matches `wh1`, `wh*` matches `whx`).
      const planned = [path.join(dir, "wh[1]", "f.parquet"), path.join(dir, "wh*", "g.parquet"), path.join(dir, "wh?", "h.parquet")]
      for (const f of planned) yield* write(f, 1)
      for (const f of [path.join(dir, "wh1", "f.parquet"), path.join(dir, "whx", "g.parquet"), path.join(dir, "why", "h.parquet")]) yield* write(f, 100)
      connection.closeSync()
      instance.closeSync()
      const schema = { "schema-id": 0, type: "struct" as const, fields: [{ id: 1, name: "x", required: false, type: "int" as const }] }
      const tables = [{ name: "t", schema, files: planned }]
      // Before: "the statement needs access that is not allowed" (DuckDB globbed the path, listing
      // a directory the sandbox does not open), or the sibling's rows instead of the planned file's.
      const r = yield* runSandboxed({ sql: "SELECT count(*) AS n, sum(x) AS s FROM t", tables, maxRows: 10, timeoutMs: 30_000 })
      assert.deepStrictEqual(r.rows, [{ n: "3", s: "3" }])
      const out = path.join(dir, "out.parquet")
      const written = yield* Effect.result(runSandboxed({ sql: "SELECT x FROM t", tables, maxRows: 10, timeoutMs: 30_000, parquetOut: out }))
      assert.strictEqual(written._tag, "Success", written._tag === "Failure" ? written.failure.message : "")
      // No link to the planned files is left behind.
      const links = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("k2-api-")).flatMap((n) => {
        try {
          return fs.readdirSync(path.join(os.tmpdir(), n)).map((f) => fs.readlinkSync(path.join(os.tmpdir(), n, f)))
        } catch {
          return []
        }
      })
      assert.deepStrictEqual(links.filter((l) => l.startsWith(dir)), [])
    }).pipe(Effect.scoped))
})

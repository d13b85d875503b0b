/** The SQL catalog's drivers: how their failures are classified, and how a SQLite file is opened. */
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { changedNothing, classifySqlError, postgresDriver, sqliteDriver } from "../../../src/layers/catalog/drivers.ts"
import { tempDir } from "../../support/tempDir.ts"

/** An error as node:sqlite throws it. */
const sqliteError = (errcode: number, message: string) => Object.assign(new Error(message), { code: "ERR_SQLITE_ERROR", errcode })

describe("classifySqlError", () => {
  it("SQLite's extended busy, locked, read-only and full codes are its primary ones: the statement did not run", () => {
    // SQLITE_BUSY_SNAPSHOT (5 | 2 << 8), SQLITE_LOCKED_SHAREDCACHE (6 | 1 << 8), SQLITE_READONLY_DBMOVED (8 | 4 << 8).
    for (const errcode of [5, 517, 262, 1032, 13]) {
      assert.strictEqual(classifySqlError(sqliteError(errcode, "database is busy")), "not-run", String(errcode))
      assert.isTrue(changedNothing(sqliteError(errcode, "database is busy")), String(errcode))
    }
  })

  it("a PostgreSQL data exception (class 22: a value too long for its column) is refused, as an integrity one (23) is", () => {
    const tooLong = Object.assign(new Error("value too long for type character varying(255)"), { code: "22001" })
    assert.strictEqual(classifySqlError(tooLong), "refused")
    assert.strictEqual(classifySqlError(Object.assign(new Error("null value in column"), { code: "23502" })), "refused")
    assert.isTrue(changedNothing(tooLong))
    // Class 42: a role without the privilege (42501) is refused the statement before it runs.
    assert.strictEqual(classifySqlError(Object.assign(new Error("permission denied for table iceberg_tables"), { code: "42501" })), "refused")
    // A connection that broke says nothing of what ran.
    assert.isFalse(changedNothing(Object.assign(new Error("Connection terminated unexpectedly"), { code: undefined })))
  })

  it.effect("a PostgreSQL statement for which no connection could be had was never sent: it changed nothing", () =>
    Effect.gen(function*() {
      // Port 1: nothing listens.
      const driver = postgresDriver("postgresql://k2@127.0.0.1:1/k2")
      const error = yield* Effect.promise(() => driver.execute("UPDATE t SET x = 1").then(() => undefined, (e: unknown) => e))
      yield* Effect.promise(() => driver.close())
      assert.strictEqual(classifySqlError(error), "not-run")
      assert.isTrue(changedNothing(error))
      // The same words from a connection that broke under a statement say nothing of what ran.
      assert.isFalse(changedNothing(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })))
    }))
})

describe("sqliteDriver", () => {
  it.effect("opens a catalog file in a directory not made yet, in WAL mode", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const driver = sqliteDriver(path.join(dir, "not", "yet", "catalog.db"))
      try {
        assert.deepStrictEqual(yield* Effect.promise(async () => driver.query("PRAGMA journal_mode")), [{ journal_mode: "wal" }])
      } finally {
        yield* Effect.promise(() => driver.close())
      }
    }).pipe(Effect.scoped))

  it.effect("a full database names its file in the failure (SQLite's own words name none), still classified as not run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const driver = sqliteDriver(file)
      try {
        yield* Effect.promise(() => driver.execute("CREATE TABLE t (x TEXT)"))
        // The database may not grow past its current pages: SQLite fails as on a full disk (SQLITE_FULL).
        yield* Effect.promise(async () => driver.query("PRAGMA max_page_count = 1"))
        const error = yield* Effect.promise(() => driver.execute("INSERT INTO t (x) VALUES ($1)", ["x".repeat(100_000)]).then(() => undefined, (e: Error) => e))
        assert.isDefined(error)
        assert.include(error!.message, file)
        assert.include(error!.message, "database or disk is full")
        assert.strictEqual(classifySqlError(error), "not-run")
      } finally {
        yield* Effect.promise(() => driver.close())
      }
    }).pipe(Effect.scoped))

  it.effect("a failure is classified by SQLite's words, not by the file its message names", () =>
    Effect.gen(function*() {
      // A folder whose name reads as a unique violation, a lock or a timeout.
      const dir = path.join(yield* tempDir(), "primary key, database is locked, timeout")
      const driver = sqliteDriver(path.join(dir, "catalog.db"))
      try {
        const error = yield* Effect.promise(() => driver.execute("INSERT INTO nowhere (x) VALUES (1)").then(() => undefined, (e: Error) => e))
        assert.include(error!.message, "no such table")
        // Not a unique violation (which changed nothing): the commit's outcome would be taken as known.
        assert.strictEqual(classifySqlError(error), "other")
        assert.isFalse(changedNothing(error))
      } finally {
        yield* Effect.promise(() => driver.close())
      }
    }).pipe(Effect.scoped))

  it.live("waits out another process's write lock without holding the event loop, then runs the statement", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const driver = sqliteDriver(file)
      const holder = new DatabaseSync(file)
      let release: ReturnType<typeof setTimeout> | undefined
      try {
        yield* Effect.promise(() => driver.execute("CREATE TABLE t (x INTEGER)"))
        // Another process's write transaction (SQLite's lock is per file, so a second connection stands in).
        holder.exec("BEGIN IMMEDIATE")
        let ticks = 0
        const timer = setInterval(() => ticks++, 10)
        // The holder lets go only when the event loop runs: a driver that blocks waiting never sees it.
        release = setTimeout(() => holder.exec("ROLLBACK"), 300)
        const started = Date.now()
        const changed = yield* Effect.promise(() => driver.execute("INSERT INTO t (x) VALUES (1)").catch((e: Error) => e.message))
        clearInterval(timer)
        assert.strictEqual(changed, 1)
        assert.isBelow(Date.now() - started, 3000)
        assert.isAbove(ticks, 5, "the event loop ran while the statement waited")
      } finally {
        clearTimeout(release)
        holder.close()
        yield* Effect.promise(() => driver.close())
      }
    }).pipe(Effect.scoped), 30_000)
})

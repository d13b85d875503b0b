/** The SQL catalog's drivers: how their failures are classified, and how a SQLite file is opened. */
import * as net from "node:net"
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

/** A PostgreSQL wire message: its type byte, then its length and body. */
const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5)
  head.write(type, 0, "latin1")
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const cstring = (s: string) => Buffer.from(`${s}\0`)
const READY = message("Z", Buffer.from("I"))
/** A FATAL error, after which the server closes the connection. */
const fatal = (code: string, text: string) =>
  message("E", Buffer.concat([...[["S", "FATAL"], ["V", "FATAL"], ["C", code], ["M", text]].map(([k, v]) => cstring(`${k}${v}`)), Buffer.from([0])]))
/** What pg_terminate_backend sends. */
const TERMINATED = fatal("57P01", "terminating connection due to administrator command")
/** What a session idle past idle_session_timeout is sent: it read no statement since it was last ready. */
const IDLE_TIMEOUT = fatal("57P05", "terminating connection due to idle-session timeout")

/**
 * A server speaking just enough of PostgreSQL's protocol: no password asked; its first connection is
 * ended: `"ready"`, terminated at once after it is ready (in the same packet, as a backend terminated
 * during its start can be read); `"idle"`, its first statement met by the idle-session timeout's
 * FATAL (sent as the statement came, before it was read); `"terminated"`, its first statement met by
 * pg_terminate_backend's. Every later one answers each query with one row, x = 1.
 */
const endingFirstConnection = (how: "ready" | "idle" | "terminated") => Effect.acquireRelease(
  Effect.callback<net.Server>((resume) => {
    let connections = 0
    const server = net.createServer((socket) => {
      const first = connections++ === 0
      let started = false
      let pending = Buffer.alloc(0)
      socket.on("error", () => {})
      socket.on("data", (chunk) => {
        pending = Buffer.concat([pending, chunk])
        for (;;) {
          // The startup message has no type byte; every later one has.
          const offset = started ? 1 : 0
          if (pending.length < offset + 4) return
          const length = pending.readInt32BE(offset)
          if (pending.length < offset + length) return
          const type = started ? pending.toString("latin1", 0, 1) : ""
          pending = pending.subarray(offset + length)
          if (!started) {
            started = true
            const authOk = message("R", Buffer.from([0, 0, 0, 0]))
            if (first && how === "ready") socket.end(Buffer.concat([authOk, READY, TERMINATED]))
            else socket.write(Buffer.concat([authOk, READY]))
          } else if (type === "Q" && first) {
            socket.end(how === "idle" ? IDLE_TIMEOUT : TERMINATED)
          } else if (type === "Q") {
            const column = Buffer.concat([cstring("x"), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0])])
            socket.write(Buffer.concat([
              message("T", Buffer.concat([Buffer.from([0, 1]), column])),
              message("D", Buffer.from([0, 1, 0, 0, 0, 1, 0x31])),
              message("C", cstring("SELECT 1")),
              READY
            ]))
          } else if (type === "X") socket.end()
        }
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.sync(() => void server.close())
)

describe("postgresDriver: a connection terminated as it is made", () => {
  // Before, the client's `error` event had no listener (an uncaught exception: the process ended)
  // and the statement was handed to the dead client ("Client has encountered a connection error").
  it.live("is not handed a statement, and its error reaches no process-ending emitter: the statement runs on a new connection", () =>
    Effect.gen(function*() {
      const server = yield* endingFirstConnection("ready")
      const driver = postgresDriver(`postgresql://k2@127.0.0.1:${(server.address() as net.AddressInfo).port}/k2`)
      const result = yield* Effect.promise(() => Promise.resolve(driver.query("SELECT 1 AS x")).then((rows) => rows, (e: unknown) => e))
      yield* Effect.promise(() => driver.close())
      assert.deepStrictEqual(result, [{ x: 1 }])
    }).pipe(Effect.scoped))

  it.live("a statement met by the idle-session timeout never ran: it is sent again on a new connection, and alone would have changed nothing", () =>
    Effect.gen(function*() {
      const server = yield* endingFirstConnection("idle")
      const driver = postgresDriver(`postgresql://k2@127.0.0.1:${(server.address() as net.AddressInfo).port}/k2`)
      const rows = yield* Effect.promise(() => Promise.resolve(driver.query("SELECT 1 AS x")).then((rows) => rows, (e: unknown) => e))
      yield* Effect.promise(() => driver.close())
      assert.deepStrictEqual(rows, [{ x: 1 }])
      const idle = Object.assign(new Error("terminating connection due to idle-session timeout"), { code: "57P05" })
      assert.isTrue(changedNothing(idle))
    }).pipe(Effect.scoped))

  it.live("a read whose connection was terminated under it is sent again on a new connection; a write is not (it may have run)", () =>
    Effect.gen(function*() {
      const reading = yield* endingFirstConnection("terminated")
      const reader = postgresDriver(`postgresql://k2@127.0.0.1:${(reading.address() as net.AddressInfo).port}/k2`)
      const rows = yield* Effect.promise(() => Promise.resolve(reader.query("SELECT 1 AS x")).then((rows) => rows, (e: unknown) => e))
      yield* Effect.promise(() => reader.close())
      assert.deepStrictEqual(rows, [{ x: 1 }])

      const writing = yield* endingFirstConnection("terminated")
      const writer = postgresDriver(`postgresql://k2@127.0.0.1:${(writing.address() as net.AddressInfo).port}/k2`)
      const error = yield* Effect.promise(() => writer.execute("UPDATE t SET x = 1").then(() => undefined, (e: unknown) => e))
      yield* Effect.promise(() => writer.close())
      assert.strictEqual((error as { code?: string }).code, "57P01")
      assert.strictEqual(classifySqlError(error), "connection")
    }).pipe(Effect.scoped))
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

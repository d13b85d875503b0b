/**
 * The two databases behind the SQL catalog, reduced to what it needs: parameterized
 * statements ($1, $2, ... in both dialects) and the count of rows changed, which is
 * how a compare-and-swap tells that it won.
 */
import * as fs from "node:fs"
import { dirname, resolve } from "node:path"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import pg from "pg"
import { untrustedCertificate } from "../untrustedCertificate.ts"
import { makeDirectorySync } from "../directories.ts"
import { failureText } from "./failureText.ts"

type SqlValue = string | null

export type Rows = ReadonlyArray<Record<string, unknown>>

export interface SqlDriver {
  readonly dialect: "sqlite" | "postgres"
  /**
   * A read: PostgreSQL's is sent again when its connection ended under it. SQLite answers at once,
   * without a hop through the event loop: the API reads the table pointer on every request, and
   * the hop cost a cold request more than SQLite's read itself (~10 µs).
   */
  query(sql: string, params?: ReadonlyArray<SqlValue>): Rows | Promise<Rows>
  /** Returns the number of rows changed. */
  execute(sql: string, params?: ReadonlyArray<SqlValue>): Promise<number>
  close(): Promise<void>
}

/**
 * Why a driver call failed, as the catalog needs to know it. `not-run`: SQLite would not run the
 * statement (another connection's lock past busy_timeout, a read-only file, a full disk; its
 * transaction is rolled back), or no PostgreSQL connection could be had to send it, or PostgreSQL
 * had ended the session for idling before it read it: it changed nothing, unlike one whose
 * connection broke on the way back.
 */
export type SqlFailure = "unique-violation" | "refused" | "not-run" | "connection" | "other"

/** SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_FULL (primary result codes). */
const SQLITE_NOT_RUN = [5, 6, 8, 13]

/** A statement that surely changed nothing: the database refused it, or SQLite would not run it. */
export const changedNothing = (error: unknown): boolean => {
  const failure = classifySqlError(error)
  return failure === "unique-violation" || failure === "refused" || failure === "not-run"
}

/** Failures to get a PostgreSQL connection for a statement: it was never sent. */
const unsent = new WeakSet<object>()

/**
 * PostgreSQL ended the session for idling past idle_session_timeout (57P05): it is sent only while
 * the session waits for a statement, so one that met it (sent as the session was ended) never ran.
 */
const endedIdle = (error: unknown): boolean => (error as { code?: unknown } | null | undefined)?.code === "57P05"

/**
 * What to fix when PostgreSQL cannot be reached as K2_CATALOG says, which waiting will not mend: a
 * login refused (class 28: password, pg_hba.conf), no such database (3D000), a certificate not
 * trusted, a file the URL names (sslrootcert, sslcert, sslkey) unreadable, a server without SSL.
 * Undefined for every other failure.
 */
const settingsFault = (error: unknown): string | undefined => {
  const e = error as { code?: unknown; syscall?: unknown; message?: unknown } | null | undefined
  const code = typeof e?.code === "string" ? e.code : ""
  if (code.startsWith("28")) {
    // pg_hba.conf takes only SSL (hostssl) from this host: the URL asked for none.
    return /no encryption/.test(typeof e?.message === "string" ? e.message : "")
      ? "the server takes only SSL connections from here: add sslmode=verify-full (and sslrootcert=<CA PEM>) to K2_CATALOG"
      : "PostgreSQL refused the login: check the user and password of K2_CATALOG (and the server's pg_hba.conf)"
  }
  if (code === "3D000") return "check the database name of K2_CATALOG"
  const untrusted = untrustedCertificate(error)
  if (untrusted !== undefined) {
    // pg's message is the certificate's already: its code is enough here.
    return `the database's TLS certificate is not trusted (${untrusted.split(":")[0]}): give its CA as sslrootcert=<PEM file> in K2_CATALOG ` +
      "(or NODE_EXTRA_CA_CERTS); sslmode=verify-full also checks that the certificate names the URL's host"
  }
  if ((code === "ENOENT" || code === "EACCES") && e?.syscall === "open") return "a file K2_CATALOG names (sslrootcert, sslcert, sslkey) cannot be read"
  if (e?.message === "The server does not support SSL connections") return "the server takes no SSL: drop sslmode from K2_CATALOG, or turn ssl on at the server"
  return undefined
}

/** A driver's failure for a message: its own words, and what to fix when it is the settings' fault. */
export const sqlFailureText = (error: unknown): string => {
  const fault = settingsFault(error)
  return fault === undefined ? failureText(error) : `${failureText(error)}: ${fault}`
}

export const classifySqlError = (error: unknown): SqlFailure => {
  // Before "not-run": a connection refused for the settings changed nothing, and is refused again.
  if (settingsFault(error) !== undefined) return "refused"
  if (typeof error === "object" && error !== null && unsent.has(error)) return "not-run"
  if (endedIdle(error)) return "not-run"
  const e = error as { code?: string; errcode?: number; message?: string }
  // SQLite's words, not the file a SQLite failure's message names (its path could read as any of them).
  const message = (typeof error === "object" && error !== null ? sqliteWords.get(error) : undefined) ?? e.message ?? ""
  // PostgreSQL SQLSTATE 23505, SQLite SQLITE_CONSTRAINT_PRIMARYKEY / UNIQUE.
  if (e.code === "23505" || /UNIQUE constraint failed|PRIMARY KEY/i.test(message)) return "unique-violation"
  if (e.code === "ERR_SQLITE_ERROR" && typeof e.errcode === "number" && SQLITE_NOT_RUN.includes(e.errcode & 0xff)) return "not-run"
  // PostgreSQL class 22 (data exception: a value too long for its column), 23 (integrity) and 42
  // (access rule: a role without UPDATE on iceberg_tables): the statement itself is refused,
  // changed nothing, and would be refused again.
  if (/^(2[23]|42)/.test(e.code ?? "")) return "refused"
  // PostgreSQL class 08 (connection), 57P (shutdown), 53 (resources), node socket errors; SQLite busy/locked without its code.
  if (
    /^(08|57P|53)/.test(e.code ?? "") || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT)$/.test(e.code ?? "") ||
    /database is locked|SQLITE_BUSY|Connection terminated|timeout/i.test(message)
  ) return "connection"
  return "other"
}

/** How long a statement waits out another connection's lock before failing as "database is locked". */
const SQLITE_BUSY_WAIT_MS = 10_000

const isSqliteBusy = (error: unknown): boolean => {
  const e = error as { code?: string; errcode?: number }
  return e.code === "ERR_SQLITE_ERROR" && typeof e.errcode === "number" && (e.errcode & 0xff) === 5
}

/**
 * `run` (one autocommit statement), tried again while SQLite is busy (another connection holds the
 * lock: the statement ran none of it), backing off up to 100 ms between tries, for SQLITE_BUSY_WAIT_MS.
 */
const whileBusy = async <A>(run: () => A): Promise<A> => {
  const deadline = Date.now() + SQLITE_BUSY_WAIT_MS
  for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
    try {
      return run()
    } catch (e) {
      if (!isSqliteBusy(e) || Date.now() + pause > deadline) throw e
    }
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
}

/** The message SQLite gave each failure `namingFile` named its file in: what `classifySqlError` reads. */
const sqliteWords = new WeakMap<object, string>()

/** SQLITE_IOERR, SQLITE_FULL (primary result codes): how SQLite fails on a full disk. */
const SQLITE_SPACE = [10, 13]

/** Below this free on its file system, a SQLite I/O error is said to be the disk being full. */
const NEARLY_FULL_BYTES = 1024 * 1024

/**
 * A SQLite failure naming its file, the same error otherwise (its code and errcode classify it).
 * SQLite's words name no file ("database or disk is full"), and on a full disk it may say only
 * "disk I/O error" (opening a catalog on a full tmpfs, measured), so the space left is said too.
 */
const namingFile = (file: string, error: unknown): unknown => {
  const e = error as { message?: unknown; errcode?: unknown } | null
  if (file === ":memory:" || typeof e?.message !== "string") return error
  let space = ""
  if (typeof e.errcode === "number" && SQLITE_SPACE.includes(e.errcode & 0xff)) {
    try {
      const st = fs.statfsSync(dirname(file))
      const free = st.bavail * st.bsize
      if (free < NEARLY_FULL_BYTES) space = ` (no space left: ${free} bytes free on the file system holding it)`
    } catch {
      // Nothing more to say than SQLite's words.
    }
  }
  const named = Object.assign(new Error(`${file}: ${e.message}${space}`, { cause: error }), error)
  sqliteWords.set(named, e.message)
  return named
}

/** `f`, its failure naming the SQLite file. */
const onFile = <A>(file: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    throw namingFile(file, e)
  }
}

/**
 * The longest path of a SQLite file, in bytes, absolute: SQLite's unix VFS takes 512, less room for
 * its journal's suffix; a longer one failed as "unable to open database file", naming nothing.
 */
const SQLITE_MAX_PATH_BYTES = 504

/** What a SQLite file's path should be, when SQLite cannot open it (too long), else undefined. */
export const sqlitePathProblem = (file: string): string | undefined => {
  const bytes = Buffer.byteLength(resolve(file))
  return bytes <= SQLITE_MAX_PATH_BYTES ? undefined : `a SQLite file of at most ${SQLITE_MAX_PATH_BYTES} bytes of absolute path, SQLite's limit (this one has ${bytes})`
}

/** SQLite through Node's built-in `node:sqlite`; `:memory:` gives the in-memory catalog. Every failure names the file. */
export const sqliteDriver = (path: string): SqlDriver => {
  if (path !== ":memory:") {
    const tooLong = sqlitePathProblem(path)
    if (tooLong !== undefined) throw namingFile(path, new Error(`cannot open: want ${tooLong}`))
    makeDirectorySync(dirname(path))
  }
  const db = onFile(path, () => {
    const db = new DatabaseSync(path)
    // WAL lets readers run beside the one writer. Opening may wait on another process's lock: nothing runs yet.
    db.exec(`PRAGMA busy_timeout = ${SQLITE_BUSY_WAIT_MS}`)
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL")
    return db
  })
  // node:sqlite waits out a lock inside the call, holding the event loop (the API, Kafka heartbeats)
  // for all of busy_timeout: after opening, a locked statement fails at once and is tried again
  // after a timer, for as long.
  db.exec("PRAGMA busy_timeout = 0")
  // The catalog's statements are a fixed set of texts: each is prepared once (the API reads the
  // table pointer on every request).
  const statements = new Map<string, StatementSync>()
  const prepared = (sql: string) => {
    let statement = statements.get(sql)
    if (statement === undefined) {
      statement = db.prepare(sql.replace(/\$(\d+)/g, "?$1"))
      statements.set(sql, statement)
    }
    return statement
  }
  return {
    dialect: "sqlite",
    query: (sql, params = []) => {
      const run = () => prepared(sql).all(...params) as Rows
      try {
        return run()
      } catch (e) {
        if (!isSqliteBusy(e)) throw namingFile(path, e)
        return whileBusy(run).catch((e) => Promise.reject(namingFile(path, e)))
      }
    },
    execute: (sql, params = []) =>
      whileBusy(() => Number(prepared(sql).run(...params).changes)).catch((e) => Promise.reject(namingFile(path, e))),
    close: async () => db.close()
  }
}

/** Connections the PostgreSQL catalog keeps. */
const POOL_SIZE = 4

/**
 * The connection ended under a statement, sent or not: terminated (57P01: pg_terminate_backend, a
 * server shutting down) or closed (reset, or pg's own words). Never a connection that could not be
 * had, nor a timeout.
 */
const endedUnder = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || unsent.has(error)) return false
  const e = error as { code?: unknown; message?: unknown }
  return e.code === "57P01" || e.code === "ECONNRESET" || e.code === "EPIPE" || e.message === "Connection terminated unexpectedly"
}

/** How much longer than the server's statement_timeout the client waits for an answer. */
const CLIENT_TIMEOUT_MARGIN_MS = 2_000

/**
 * PostgreSQL through a small `pg` pool. A statement running past `queryTimeoutMs` (default 30 s) is
 * cancelled by the server (statement_timeout): one waiting on another session's lock would otherwise
 * stay queued there after the client gave up, holding a server connection per attempt, and run (a
 * swap landing after its commit was reported failed) whenever the lock went. A query still
 * unanswered a little later fails and its connection is dropped: a database host gone silent
 * (failover, a network partition) must not hold a commit for the minutes TCP takes to give up.
 * The URL's own `statement_timeout` / `query_timeout` parameters win over these.
 */
export const postgresDriver = (connectionString: string, options: { readonly queryTimeoutMs?: number } = {}): SqlDriver => {
  const timeoutMs = options.queryTimeoutMs ?? 30_000
  const pool = new pg.Pool({
    connectionString,
    max: POOL_SIZE,
    connectionTimeoutMillis: 10_000,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
    keepAlive: true
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {})
  // A client's connection ended while it is handed out but no statement listens yet (terminated as
  // it started: the FATAL read with its ReadyForQuery, after the pool let go of it and before `run`
  // takes it) would be an `error` event no one hears, which ends the process (measured: 66 in 10 s
  // of pg_terminate_backend against 8 busy clients). Heard for the client's whole life: it is broken.
  const broken = new WeakSet<pg.PoolClient>()
  pool.on("connect", (client) => client.on("error", () => void broken.add(client)))
  /**
   * A connection to send a statement on. One found broken is dropped and another taken: the
   * statement was never sent. A failure to get one (server down, login refused, the pool's wait
   * over) is told apart for the same reason: a swap that met it surely changed nothing.
   */
  const connect = async (): Promise<pg.PoolClient> => {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect().catch((e: unknown) => {
        if (typeof e === "object" && e !== null) unsent.add(e)
        throw e
      })
      if (!broken.has(client)) return client
      const error = new Error("Connection terminated as it was made")
      client.release(error)
      // Each broken one leaves the pool: after a few, the server is refusing connections.
      if (attempt >= POOL_SIZE) {
        unsent.add(error)
        throw error
      }
    }
  }
  /**
   * `runOnce`, again on a new connection while `again` says so of its failure (each broken
   * connection leaves the pool, so a few tries reach a fresh one): the callers would otherwise see
   * an outage that is none.
   */
  const run = async (sql: string, params: ReadonlyArray<SqlValue>, again: (error: unknown) => boolean): Promise<pg.QueryResult> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await runOnce(sql, params)
      } catch (e) {
        if (!again(e) || attempt >= POOL_SIZE) throw e
      }
    }
  }
  const runOnce = async (sql: string, params: ReadonlyArray<SqlValue>) => {
    const client = await connect()
    return new Promise<pg.QueryResult>((resolve, reject) => {
      let released = false
      // A failed client is dropped, not handed to the next statement.
      const release = (error?: Error) => {
        if (released) return
        released = true
        client.removeListener("error", onError)
        client.release(error ?? false)
      }
      // A connection lost mid-statement is also an `error` event on the client: unheard, it would end the process.
      const onError = (error: Error) => {
        release(error)
        reject(error)
      }
      client.on("error", onError)
      client.query(sql, [...params]).then(
        (result) => {
          release()
          resolve(result)
        },
        (error: unknown) => {
          release(error instanceof Error ? error : new Error(String(error)))
          reject(error)
        }
      )
    })
  }
  return {
    dialect: "postgres",
    // A read whose connection ended under it changed nothing either: after pg_terminate_backend (an
    // operator's, a failover's) the pool still holds connections it has not yet heard are gone, and
    // every request of `serve` that took one failed. Not a timeout: a silent host would be waited
    // for again. A write's outcome is the caller's to find out (CommitStateUnknown).
    query: async (sql, params = []) => (await run(sql, params, (e) => endedIdle(e) || endedUnder(e))).rows as Rows,
    // The session ended for idling (idle_session_timeout shorter than the pool's idle time:
    // measured, 3 of 80 reads a second apart at 1 s) before the statement was read: nothing ran.
    execute: async (sql, params = []) => (await run(sql, params, endedIdle)).rowCount ?? 0,
    close: () => pool.end()
  }
}

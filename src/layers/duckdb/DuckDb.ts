/**
 * One in-memory DuckDB per process (`compact`: one per run), shared through a small pool of connections.
 *
 * Every query of `@duckdb/node-api` runs on a libuv thread-pool thread, which the
 * file system and DNS share: the pool stays below the thread-pool size so one thread is always
 * left for them (DESIGN.md "Pitfalls"). The SQL sandbox runs in worker processes of its own (ADR-35).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { DuckDBInstance, type DuckDBConnection, type DuckDBPreparedStatement, type DuckDBType, type DuckDBValue } from "@duckdb/node-api"
import { Clock, Config, Context, Deferred, Effect, Layer, Option, Pool, Schema } from "effect"
import { type ContainerLimits, containerLimits, type ReadFile, readIfPresent } from "../containerLimits.ts"
import { monotonicMillisOf } from "../elapsed.ts"
import { FairQueue } from "./fairQueue.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { spillDirectory, STALE_SPILL_MS, sweepSpillDirectories } from "./spillDirectory.ts"
import { atLeastOne, integer } from "../settings.ts"

export class DuckDbError extends Schema.TaggedError<DuckDbError>()("DuckDbError", {
  /** What the statement was for, e.g. "write parquet". */
  purpose: Schema.String,
  /**
   * `Overflow`: a value past its type (a sum past int128), which readers refuse as a 400, not a 500.
   * `OutOfMemory`: the statement needed more than DuckDB's memory limit (K2_DUCKDB_MEMORY_LIMIT), a 503.
   */
  reason: Schema.Literals(["Overflow", "OutOfMemory", "Failed"]),
  message: Schema.String
}) {}

/** Thrown by a reader of an answer that finds a value DuckDB let wrap: a `DuckDbError` of reason `Overflow`. */
export class WrappedValue extends Error {}

/** DuckDB's words for a value past its type ("Out of Range Error: Overflow in addition of INT128 ..."). */
const DUCKDB_OVERFLOW = "Out of Range Error: Overflow"

/** DuckDB's words for a statement past its memory limit ("Out of Memory Error: could not allocate block ..."). */
const DUCKDB_OUT_OF_MEMORY = "Out of Memory Error"

const duckDbError = (purpose: string, cause: unknown): DuckDbError => {
  const message = cause instanceof Error ? cause.message : String(cause)
  const overflow = cause instanceof WrappedValue || message.includes(DUCKDB_OVERFLOW)
  const reason = overflow ? "Overflow" : message.includes(DUCKDB_OUT_OF_MEMORY) ? "OutOfMemory" : "Failed"
  return new DuckDbError({ purpose, reason, message })
}

/**
 * Every connection's time settings, whatever the machine's: DuckDB's ICU takes its defaults from the
 * process environment, TimeZone from TZ and Calendar from the locale (LANG, LC_ALL). Under
 * `fa_IR.UTF-8` or `th_TH.UTF-8` the calendar was Persian or Buddhist: a timestamp's local date
 * (`timezone(zone, ts)::DATE`, the daily summary's trading day) fell in the year 1402 or 2567 and
 * no day matched, and user SQL's `year()`, `date_trunc` and text renderings followed suit.
 * Instants are then rendered in UTC (Parquet statistics' text too), on the Gregorian calendar (ADR-55).
 */
const SESSION_TIME_SETTINGS = ["SET TimeZone = 'UTC'", "SET Calendar = 'gregorian'"] as const

/** Runs SESSION_TIME_SETTINGS on a new connection. */
export const useUtcGregorian = async (connection: DuckDBConnection): Promise<void> => {
  for (const statement of SESSION_TIME_SETTINGS) await connection.run(statement)
}

export interface DuckDbOptions {
  /** Concurrent connections; default 2, capped at the libuv thread-pool size minus one. */
  readonly connections?: number | undefined
  /** DuckDB worker threads; DuckDB's default (one per core, or its cgroup's CPU quota) when absent. */
  readonly threads?: number | undefined
  /**
   * DuckDB's memory limit, as DuckDB writes it ("1GB", "512MiB"); DuckDB's default (80 % of RAM,
   * or of its cgroup's limit) when absent. Sorts past it spill to disk: compacting a day of 1M
   * quotes peaked at 955 MB of RSS unlimited, 632 MB at "256MB" (docs/operations.md).
   */
  readonly memoryLimit?: string | undefined
}

/**
 * The time one request's statements waited for a pooled connection, kept apart from the time they
 * ran: a read past its time limit that mostly waited met a busy server (retry later), one that mostly
 * ran is too heavy (narrow it). Waits of statements running at once are counted once.
 */
export class ConnectionWaits {
  private waiting = 0
  private since = 0
  private waited = 0

  started(now: number): void {
    if (this.waiting++ === 0) this.since = now
  }

  ended(now: number): void {
    if (--this.waiting === 0) this.waited += now - this.since
  }

  /** Milliseconds spent waiting up to `now`, a wait still under way included. */
  waitedMs(now: number): number {
    return this.waited + (this.waiting > 0 ? now - this.since : 0)
  }
}

/** Where `withConnection` counts its waits: the request's (the HTTP reads' time limit sets one), else nowhere. */
export const CurrentConnectionWaits = Context.Reference<ConnectionWaits | undefined>("k2/duckdb/ConnectionWaits", {
  defaultValue: () => undefined
})

/**
 * Who a `withConnection` waits for a connection as (ADR-100): serve's requests their caller (`key:<name>`,
 * or the client address without a valid key, as the rate limit counts), so that one caller's many
 * reads do not keep every other caller waiting behind all of them. Every other program is one caller:
 * first come, first served.
 */
export const CurrentConnectionOwner = Context.Reference<string>("k2/duckdb/ConnectionOwner", { defaultValue: () => "" })

/** libuv's default thread-pool size is 4 unless UV_THREADPOOL_SIZE says otherwise. */
const uvPoolSize = (): number => Number(process.env["UV_THREADPOOL_SIZE"]) || 4

/** One pool thread stays free for file I/O. */
export const maxConnections = (): number => Math.max(1, uvPoolSize() - 1)

/** How often an interrupted call is interrupted again until it settles. */
const REINTERRUPT_MS = 10

/**
 * Runs a DuckDB call, its throw or rejection mapped by `onFailure`. An interruption (a client gone,
 * a timeout) never abandons the call: `interrupt` (typically `connection.interrupt()`) stops it
 * early, and the fiber waits until it settles. An abandoned statement would keep its connection
 * busy after it went back to the pool, and closing a connection mid-statement deadlocks DuckDB, so
 * the process never exits.
 *
 * `interrupt` is repeated until the call settles: DuckDB forgets an interrupt that finds no
 * statement running (one still being prepared, reading its files' footers), and the statement
 * prepared next would then run to its end for a client long gone.
 */
export const interruptibly = <A, E>(
  f: () => A | Promise<A>,
  onFailure: (cause: unknown) => E,
  interrupt?: () => void
): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    let done = false
    const settled = new Promise<A>((resolve) => resolve(f())).then(
      (a) => resume(Effect.succeed(a)),
      (cause) => resume(Effect.fail(onFailure(cause)))
    ).finally(() => {
      done = true
    })
    return Effect.promise(() => {
      if (interrupt !== undefined && !done) {
        interrupt()
        const again = setInterval(interrupt, REINTERRUPT_MS)
        return settled.finally(() => clearInterval(again))
      }
      return settled
    })
  })

/** Runs one DuckDB call (see `interruptibly`), failing with a `DuckDbError` that says what it was for. */
export const attempt = <A>(purpose: string, f: () => A | Promise<A>, interrupt?: () => void): Effect.Effect<A, DuckDbError> =>
  interruptibly(f, (cause) => duckDbError(purpose, cause), interrupt)

/**
 * Executes one statement with positional `values`: prepared straight from its text, bound, run by
 * `execute`, destroyed. `connection.run(sql, values)` first splits the text into statements, one
 * more hop through the libuv thread pool: 0.4-1.0 ms a bars query here (docs/query.md).
 */
export const executeOne = async <A>(
  connection: DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  execute: (statement: DuckDBPreparedStatement) => Promise<A>,
  types?: ReadonlyArray<DuckDBType>
): Promise<A> => {
  const statement = await connection.prepare(sql)
  try {
    statement.bind([...values], types === undefined ? undefined : [...types])
    return await execute(statement)
  } finally {
    statement.destroySync()
  }
}

/**
 * Ends the streamed statement `connection` may still hold open. DuckDB keeps a streamed
 * statement's state (a sorted replay window: tens to hundreds of MB) until the connection's next
 * statement, and @duckdb/node-api cannot close a result: a statement of nothing ends it, so a
 * stream left early does not stay held by a pooled connection that may idle for hours.
 */
export const endStream = (connection: DuckDBConnection): Effect.Effect<void> =>
  Effect.ignore(attempt("end stream", () => connection.run("SELECT NULL")))

/** Runs SQL with optional positional parameters and returns the rows as objects. */
export const query = (
  connection: DuckDBConnection,
  purpose: string,
  sql: string,
  values?: ReadonlyArray<DuckDBValue>
): Effect.Effect<ReadonlyArray<Record<string, DuckDBValue>>, DuckDbError> =>
  attempt(
    purpose,
    async () =>
      (values === undefined ? await connection.runAndReadAll(sql) : await executeOne(connection, sql, values, (s) => s.runAndReadAll()))
        .getRowObjects(),
    () => connection.interrupt()
  )


/**
 * The units DuckDB's `memory_limit` takes (any case), each with the bytes it reads it as and the
 * form K2 passes on: K, KB, kilobyte(s) and the like are powers of 1000 (`512M` is 512 MB, 488.3
 * MiB), KiB and the like of 1024; B, byte(s) are bytes. DuckDB takes no other (`1P`: "Failed to set config").
 */
const UNITS: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
  [["b", "byte", "bytes"], 1, "B"],
  [["k", "kb", "kilobyte", "kilobytes"], 1e3, "KB"],
  [["m", "mb", "megabyte", "megabytes"], 1e6, "MB"],
  [["g", "gb", "gigabyte", "gigabytes"], 1e9, "GB"],
  [["t", "tb", "terabyte", "terabytes"], 1e12, "TB"],
  [["kib"], 2 ** 10, "KiB"],
  [["mib"], 2 ** 20, "MiB"],
  [["gib"], 2 ** 30, "GiB"],
  [["tib"], 2 ** 40, "TiB"]
]
const UNIT_OF: ReadonlyMap<string, { readonly bytes: number; readonly written: string }> = new Map(
  UNITS.flatMap(([names, bytes, written]) => names.map((name) => [name, { bytes, written }] as const))
)

/**
 * The least memory limit K2 gives DuckDB. DuckDB takes any (`1MB`), and ingest's flushes then
 * failed on its "Out of Memory Error" (the embedded default exited 1 with DuckDB's advice): a flush
 * of a default batch (--flush-rows 15000) failed at 12–32 MiB, varying run to run and with the
 * threads, and passed every run from 36 MiB; 64 MiB is about twice the worst failure seen.
 */
const MIN_MEMORY_LIMIT_BYTES = 64 * 2 ** 20

/**
 * An amount of memory as DuckDB reads it: a number (`512`, `0.5`, `.5`, `1e9`) and a unit of
 * UNIT_OF, a space between them or not, of at least MIN_MEMORY_LIMIT_BYTES; passed on with the unit
 * written one way (`512 m` is `512MB`). Not DuckDB's `-1`/`none`: see `NO_LIMIT_REFUSED`. Anything
 * else is a ConfigError naming the variable and showing the value.
 */
const memoryAmount = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) => {
      if (/^(-|none$|null$)/i.test(s.trim())) return `${JSON.stringify(s)}: ${NO_LIMIT_REFUSED}`
      const amount = parseAmount(s)
      if (amount === undefined) return `${JSON.stringify(s)} is not an amount of memory such as 512MB, 512M or 2GiB`
      if (amount.bytes >= MAX_MEMORY_LIMIT_BYTES) return `${JSON.stringify(s)} is 2^64 bytes or more, past the most DuckDB holds (it read 2^64 B as a limit of 0 bytes)`
      return amount.bytes >= MIN_MEMORY_LIMIT_BYTES ||
        `${JSON.stringify(s)} is below ${MIN_MEMORY_LIMIT_BYTES / 2 ** 20}MiB, the least K2 gives DuckDB (ingest's flushes failed at up to 32MiB)`
    })),
    name
  ).pipe(Config.map((s) => parseAmount(s)!.written))

/** `s` as an amount DuckDB reads (see `memoryAmount`): its bytes and how K2 writes it, or undefined. */
const parseAmount = (s: string): { readonly bytes: number; readonly written: string } | undefined => {
  const amount = /^(\d+(?:\.\d*)?|\.\d+)(e\d+)?\s*([a-z]+)$/i.exec(s.trim())
  const unit = amount === null ? undefined : UNIT_OF.get(amount[3]!.toLowerCase())
  if (amount === null || unit === undefined) return undefined
  // Infinity past a double (`1e400GB`): refused as past MAX_MEMORY_LIMIT_BYTES.
  return { bytes: Number(`${amount[1]}${amount[2] ?? ""}`) * unit.bytes, written: `${amount[1]}${amount[2] ?? ""}${unit.written}` }
}

/**
 * The bytes past the most DuckDB holds: it reads an amount as a double and casts it to 64 bits,
 * and read 2^64 B (`18446744073709551616B`, `18446744073.709551616GB`) as a limit of 0 bytes (every
 * query an Out of Memory Error) and failed to open past it ("Failed to set config"). The largest
 * double below it, 18446744073709549568B, reads back as itself (16383.9 PiB).
 */
const MAX_MEMORY_LIMIT_BYTES = 2 ** 64

/**
 * Why K2_DUCKDB_MEMORY_LIMIT takes no `-1` or `none`. DuckDB reads them (and any value starting
 * with `-`) as no limit in a `SET`, and as its own default (80 % of RAM, or of its cgroup's limit)
 * when the database opens with it, as K2's does. Neither fits beside the rest of the process (V8's
 * heap, ingest's buffers: peak RSS 411–496 MB with a backlog) in a container, where DuckDB's 80 %
 * had the kernel kill the process (ADR-63); unset, K2 sizes it for the container.
 */
const NO_LIMIT_REFUSED = "K2 gives DuckDB no unlimited memory (DuckDB's -1 and none): leave K2_DUCKDB_MEMORY_LIMIT unset for DuckDB's default (half a container's limit in a container), or give an amount such as 8GB"

/**
 * The most DuckDB threads: DuckDB starts them all when it opens (100,000 took 19 s) and fails past
 * 2^31 with an internal error; no machine K2 runs on has this many cores.
 */
const MAX_THREADS = 1024

/**
 * The share of a container's memory DuckDB is given by default. DuckDB takes 80 % of its cgroup's
 * limit as if it were alone in it, but the rest of the process shares the limit (V8's heap, ingest's
 * buffers, DuckDB's allocations outside its buffer pool), and serve's SQL sandbox workers share the
 * pod. In a 1 GiB cgroup, a process holding 300 MB besides was killed by the kernel at DuckDB's
 * 819 MiB while at half it spilled and answered (docs/operations.md "In a container", ADR-63).
 */
const CONTAINER_MEMORY_SHARE = 0.5

/** Where the cgroup files are read from: the machine's; tests give fake ones. */
export const CgroupFiles = Context.Reference<ReadFile>("k2/duckdb/CgroupFiles", { defaultValue: () => readIfPresent })

/**
 * `explicit` (K2_DUCKDB_*) with what it leaves unset sized for a container whose limits are below
 * the host's: a memory limit of CONTAINER_MEMORY_SHARE of the container's, and one thread per CPU of
 * its quota (rounded up, as DuckDB does, but never more than the cores). `sized` says what was
 * derived, for the start's log line; empty when nothing was.
 */
export const sizedForContainer = (
  explicit: DuckDbOptions,
  limits: ContainerLimits,
  host: { readonly memoryBytes: number; readonly cores: number }
): { readonly options: DuckDbOptions; readonly sized: ReadonlyArray<string> } => {
  const sized: Array<string> = []
  let { memoryLimit, threads } = explicit
  const mib = (bytes: number) => Math.floor(bytes / 2 ** 20)
  if (memoryLimit === undefined && limits.memoryBytes !== undefined && limits.memoryBytes < host.memoryBytes) {
    const share = mib(limits.memoryBytes * CONTAINER_MEMORY_SHARE)
    // Not below what K2_DUCKDB_MEMORY_LIMIT may be set to: DuckDB would fail every flush there.
    const floor = mib(MIN_MEMORY_LIMIT_BYTES)
    memoryLimit = `${Math.max(floor, share)}MiB`
    const why = share < floor
      ? `the least K2 gives DuckDB, raised from ${share} MiB, ${CONTAINER_MEMORY_SHARE * 100} % of`
      : `${CONTAINER_MEMORY_SHARE * 100} % of`
    sized.push(`memory limit ${memoryLimit} (${why} the cgroup's ${mib(limits.memoryBytes)} MiB; K2_DUCKDB_MEMORY_LIMIT overrides)`)
  }
  if (threads === undefined && limits.cpus !== undefined && limits.cpus < host.cores) {
    threads = Math.max(1, Math.min(host.cores, Math.ceil(limits.cpus)))
    sized.push(`${threads} thread${threads === 1 ? "" : "s"} (the cgroup's CPU quota, ${limits.cpus}; K2_DUCKDB_THREADS overrides)`)
  }
  return { options: { ...explicit, memoryLimit, threads }, sized }
}

const make = Effect.fnUntraced(function*(options: DuckDbOptions) {
  const requested = options.connections ?? 2
  const size = Math.min(Math.max(1, Math.floor(requested)), maxConnections())
  if (size !== requested) {
    const why = requested < 1
      ? "at least 1"
      : requested <= maxConnections()
      ? "a whole number"
      : `at most the libuv pool's threads less one (UV_THREADPOOL_SIZE=${uvPoolSize()}; set it higher for more)`
    yield* Effect.logWarning(`DuckDB connections: ${requested} requested, using ${size}: ${why}`)
  }
  const spillTo = spillDirectory()
  const swept = sweepSpillDirectories((yield* Clock.currentTimeMillis) - STALE_SPILL_MS)
  if (swept.length > 0) yield* Effect.logInfo(`deleted ${swept.length} spill directories of DuckDB instances that ended without closing`)
  const instance = yield* Effect.acquireRelease(
    attempt("open database", () =>
      DuckDBInstance.create(":memory:", {
        // Its own, not DuckDB's `.tmp` in the working directory (spillDirectory.ts).
        temp_directory: spillTo,
        // Extensions cannot be downloaded here; never try (only built-ins are used).
        autoinstall_known_extensions: "false",
        autoload_known_extensions: "false",
        // DuckDB's cache of the file blocks it read kept 12-20 KiB of every Parquet file a query
        // touched, deleted ones too, until its memory limit (80 % of RAM): a serve reading the files
        // ingestion commits (a few a second) grew by up to gigabytes a day. The files are local:
        // the OS caches them.
        enable_external_file_cache: "false",
        ...(options.threads === undefined ? {} : { threads: String(options.threads) }),
        ...(options.memoryLimit === undefined ? {} : { memory_limit: options.memoryLimit })
      })
    ),
    (instance) =>
      Effect.sync(() => {
        instance.closeSync()
        fs.rmSync(spillTo, { recursive: true, force: true })
      })
  )
  const pool = yield* Pool.make({
    acquire: Effect.acquireRelease(
      attempt("connect", async () => {
        const connection = await instance.connect()
        await useUtcGregorian(connection)
        return connection
      }),
      (connection) => Effect.sync(() => connection.closeSync())
    ),
    size
  })
  // For /metrics: a busy pool is what makes queries wait (and time out) before they run.
  const counts = { inUse: 0, waiting: 0 }
  yield* Metrics.registerGauge(Metrics.duckDbConnections, () => size)
  yield* Metrics.registerGauge(Metrics.duckDbConnectionsInUse, () => counts.inUse)
  yield* Metrics.registerGauge(Metrics.duckDbConnectionWaiters, () => counts.waiting)

  // The turns at the pool, handed out fairly between callers (fairQueue.ts, ADR-100): `size` of
  // them, so the pool itself never has a waiter and its own line (first come, first served) is
  // never the one that decides. A turn is a Deferred completed by the one giving its turn back.
  let freeTurns = size
  const line = new FairQueue<Deferred.Deferred<void>>()
  /** A turn given back, or one handed to a waiter that gave up: to the next waiter, else free. */
  const handOn = () => {
    const next = line.next()
    if (next === undefined) freeTurns++
    else Deferred.doneUnsafe(next.waiter, Effect.void)
  }
  const takeTurn = (owner: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (freeTurns > 0) {
        freeTurns--
        line.served(owner)
        return Effect.void
      }
      const turn = Deferred.makeUnsafe<void>()
      line.enqueue(owner, turn)
      return Effect.onInterrupt(Deferred.await(turn), () =>
        Effect.sync(() => {
          // Not in the line: it was handed the turn as it gave up, which goes on to the next.
          if (!line.remove(owner, turn)) {
            line.released(owner)
            handOn()
          }
        }))
    })
  const giveTurn = (owner: string) =>
    Effect.sync(() => {
      line.released(owner)
      handOn()
    })

  return DuckDb.of({
    size,
    withConnection: (use) =>
      Effect.flatMap(CurrentConnectionWaits, (waits) =>
        Effect.flatMap(CurrentConnectionOwner, (owner) =>
          Clock.clockWith((clock) =>
            Effect.suspend(() => {
              let borrowed = false
              const stopWaiting = () => {
                borrowed = true
                counts.waiting--
                waits?.ended(monotonicMillisOf(clock))
              }
              counts.waiting++
              waits?.started(monotonicMillisOf(clock))
              const borrow = Pool.use(pool, (connection) =>
                Effect.suspend(() => {
                  stopWaiting()
                  counts.inUse++
                  return use(connection)
                }).pipe(Effect.ensuring(Effect.sync(() => void counts.inUse--))))
              // The wait for a turn may be interrupted (it leaves the line); a turn taken is always given back.
              return Effect.uninterruptibleMask((restore) =>
                Effect.flatMap(restore(takeTurn(owner)), () => restore(borrow).pipe(Effect.ensuring(giveTurn(owner))))
              ).pipe(
                // Left while waiting (interrupted, or the pool failed to connect): no longer waiting.
                Effect.ensuring(Effect.sync(() => void (borrowed || stopWaiting())))
              )
            })
          )))
  })
})

export class DuckDb extends Context.Service<DuckDb, {
  /** Number of pooled connections: the most DuckDB statements that run at once. */
  readonly size: number
  /**
   * Borrows a connection for the duration of `use`; waits while all are borrowed, in line with the
   * other waiters of its `CurrentConnectionOwner` (first come, first served), the owners taking turns.
   */
  readonly withConnection: <A, E, R>(
    use: (connection: DuckDBConnection) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | DuckDbError, R>
}>()("k2/duckdb/DuckDb") {
  static readonly layerWith = (options: DuckDbOptions): Layer.Layer<DuckDb, DuckDbError> =>
    Layer.effect(DuckDb, make(options))

  /**
   * Configured by K2_DUCKDB_CONNECTIONS (default 2, capped as `connections` is) and K2_DUCKDB_THREADS
   * (default one per core, at most MAX_THREADS), each an integer of at least 1, and K2_DUCKDB_MEMORY_LIMIT
   * (default DuckDB's, at least MIN_MEMORY_LIMIT_BYTES):
   * the settings given. `settings` adds the defaults of a container.
   */
  static readonly config: Config.Config<DuckDbOptions> = Config.all({
    // Each checked (DuckDB refuses 0 threads only as "Failed to set config"; the pool made -1 connections 1).
    connections: atLeastOne("K2_DUCKDB_CONNECTIONS").pipe(Config.withDefault(2)),
    threads: Config.option(integer("K2_DUCKDB_THREADS", { min: 1, max: MAX_THREADS })).pipe(Config.map(Option.getOrUndefined)),
    memoryLimit: Config.option(memoryAmount("K2_DUCKDB_MEMORY_LIMIT")).pipe(Config.map(Option.getOrUndefined))
  })

  /**
   * The options of `config`, what it leaves unset sized for the container the process runs in
   * (`sizedForContainer`), logged when any is.
   */
  static readonly settings: Effect.Effect<DuckDbOptions, Config.ConfigError> = Effect.gen(function*() {
    const explicit = yield* DuckDb.config
    const read = yield* CgroupFiles
    const { options, sized } = sizedForContainer(explicit, containerLimits(read), {
      memoryBytes: os.totalmem(),
      cores: os.availableParallelism()
    })
    if (sized.length > 0) yield* Effect.logInfo(`DuckDB sized for its container: ${sized.join(", ")}`)
    return options
  })

  /** `layerWith` the options of `settings`. */
  static readonly layerConfig: Layer.Layer<DuckDb, DuckDbError | Config.ConfigError> = Layer.unwrap(
    Effect.map(DuckDb.settings, DuckDb.layerWith)
  )
}

/**
 * What the read routes share: pinning the snapshot(s) a read answers from, the range and time
 * limits, the sandboxed DuckDB slots, the slots of streams held in memory (streamSlots.ts), and
 * `answerRead`, the common shape of a read (304, cached body or run and encode). One per server:
 * the body cache and the slots are shared by every route.
 */
import { Clock, Deferred, Duration, Effect, Fiber, Semaphore } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { BadParam, type Format, parseInstant, required, type SnapshotParam } from "../../domain/api/params.ts"
import { checkRange as ordered } from "../../domain/query/validate.ts"
import type { TableName } from "../../domain/tables.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import { isMissingFile, type TableFileError } from "../../domain/iceberg/errors.ts"
import { Catalog } from "../../services/Catalog.ts"
import type { Answer, Scanned } from "../../services/QueryEngine.ts"
import { type ScanPlan, type SnapshotSelector, SnapshotNotFound } from "../../services/TableScanner.ts"
import { ConnectionWaits, CurrentConnectionWaits } from "../duckdb/DuckDb.ts"
import { monotonicMillisOf } from "../elapsed.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { expiredWhileRead } from "../iceberg/planner.ts"
import { CurrentRequest, type HandlerOptions } from "./handlerContext.ts"
import { cursorStillKept, idsOf, loadInvolved, type Pinned, pinCursor, pinSnapshots } from "../query/pinning.ts"
import { orBad, QueryTimeout, ServerBusy } from "./problems.ts"
import { cacheHeaders, etagOf } from "./readHeaders.ts"
import {
  acceptsGzip,
  BodyCache,
  columnsOf,
  csvHeader,
  csvRows,
  etagMatches,
  flatten,
  type GzipSums,
  gzipEnd,
  gzipStart,
  matchesAny,
  nextPageHeaders,
  type ParquetColumns,
  parquetResponse,
  presentRow,
  twoParts,
  writeRowsParquet
} from "./respond.ts"
import { runSandboxed, slotHeldAtMostMs, stopIdleSandboxes } from "./sandboxPool.ts"
import { SqlBusy, SqlFailed } from "./sqlErrors.ts"
import { makeStreamSlots } from "./streamSlots.ts"

interface Meta {
  readonly correlation_id: string
  readonly snapshot_ids: Record<string, string | null>
  readonly scanned: ReadonlyArray<Record<string, string | number | null>>
  readonly files_scanned: number
  readonly bytes_scanned: number
  readonly rows: number
  readonly elapsed_ms: number
}

/** What the body cache keeps beside the bytes (identity, or the start of a gzip member). */
interface CachedAnswer {
  readonly meta: Meta
  /** For the next-page headers (nextPageHeaders), which every format carries. */
  readonly nextCursor: string | null
  readonly gzip?: GzipSums
}

/** An answer's data as cached: the bytes and what goes beside them. */
interface Encoded {
  readonly body: Uint8Array
  readonly entry: CachedAnswer
}

const EMPTY = new Uint8Array(0)

/** The `meta` of an answer: what it read from (K2-Snapshot-Ids), what each table's read touched, rows and time. */
export const answerMeta = (answer: Pick<Answer<unknown>, "scanned" | "elapsedMs" | "rowsReturned">, pinned: Pinned, correlationId: string): Meta => {
  const scanned = answer.scanned.map((s: Scanned) => ({
    table: s.table,
    snapshot_id: s.snapshotId === null ? null : s.snapshotId.toString(),
    files_planned: s.filesPlanned,
    files_total: s.filesTotal,
    bytes_planned: s.bytesPlanned,
    bytes_total: s.bytesTotal,
    planning_ms: Number(s.planningMs.toFixed(3))
  }))
  return {
    correlation_id: correlationId,
    snapshot_ids: pinned.ids,
    scanned,
    files_scanned: scanned.reduce((n, s) => n + s.files_planned, 0),
    bytes_scanned: scanned.reduce((n, s) => n + s.bytes_planned, 0),
    rows: answer.rowsReturned,
    elapsed_ms: Number(answer.elapsedMs.toFixed(3))
  }
}

interface ReadSpec {
  readonly route: string
  readonly request: HttpServerRequest.HttpServerRequest
  readonly format: Format
  readonly involved: ReadonlyArray<TableName>
  readonly snapshot: SnapshotParam
  /** The page's cursor, which pins what it reads instead of `snapshot`. */
  readonly cursor?: string | undefined
  /** `ids`: what the answer names (K2-Snapshot-Ids), for a read of several tables to plan each by. */
  readonly run: (
    selector: SnapshotSelector | undefined,
    ids: Readonly<Record<string, bigint | null>>
  ) => Effect.Effect<Answer<unknown> & { readonly nextCursor?: string | null }, unknown>
  readonly csvFlatten?: boolean
  /** The CSV header of an answer with no rows; default: the Parquet columns' names. */
  readonly csvColumns?: ReadonlyArray<string>
  /** Every route whose rows answer Parquet (all but trades and quotes, which export from the files). */
  readonly parquet?: ParquetColumns<Record<string, unknown>>
  /**
   * A fingerprint of what the answer depends on besides its snapshots: server settings (ADR-98), or
   * the snapshots a table still keeps (a snapshot listing's later page): in its ETag, and never immutable.
   */
  readonly settings?: string | undefined
}

export type Reads = Effect.Success<ReturnType<typeof makeReads>>

/** A shared run of an answer (answerRead): its outcome, the requests waiting for it, its fiber once forked. */
interface Flight {
  readonly answer: Deferred.Deferred<Encoded, unknown>
  waiting: number
  run: Fiber.Fiber<unknown> | undefined
}

/**
 * Sandbox runs (SQL, Parquet exports) one caller may have running or waiting at once: the two slots
 * and one in line, so a single client still finds a run waiting for it as a slot frees.
 */
const SANDBOX_RUNS_PER_CALLER = 3

export const makeReads = Effect.fnUntraced(function*(options: HandlerOptions) {
  const catalog = yield* Catalog
  const cache = new BodyCache<CachedAnswer>(options.cacheBytes)
  /** Answers being computed, by ETag (see answerRead). */
  const inFlight = new Map<string, Flight>()
  const scope = yield* Effect.scope
  yield* Effect.addFinalizer(() => Effect.sync(stopIdleSandboxes))
  const sqlPermits = yield* Semaphore.make(2)
  /** Sandbox runs running or waiting for a slot, by caller (`sandboxed`). */
  const sandboxRuns = new Map<string, number>()
  const streams = yield* makeStreamSlots(options)

  const load = (involved: ReadonlyArray<TableName>) => loadInvolved(catalog, involved)

  /** Pins the snapshot of each table a read involves, so the ETag names exactly what is read. */
  const pin = Effect.fnUntraced(function*(involved: ReadonlyArray<TableName>, param: SnapshotParam) {
    return yield* Effect.fromResult(pinSnapshots(yield* load(involved), param, yield* Clock.currentTimeMillis))
  })

  /**
   * What a page after `cursor` reads (pinCursor), once its snapshots are known to be kept still:
   * a cached page or a 304 of an expired one would answer what its next page cannot.
   * Undefined when the text is not such a cursor: the engine says why.
   */
  const pinPage = Effect.fnUntraced(function*(involved: ReadonlyArray<TableName>, cursor: string | undefined) {
    const pinned = cursor === undefined ? undefined : pinCursor(involved, cursor)
    if (pinned === undefined) return undefined
    return yield* Effect.fromResult(cursorStillKept(yield* load(involved), pinned))
  })

  /**
   * The query time limit, which waiting for a pooled DuckDB connection counts towards. A read past it
   * that spent at least half of it waiting met a busy server, ServerBusy (a retry may answer); one
   * that spent most of it running is QueryTimeout (a narrower read may answer). Both were
   * query_timeout, and a client could not tell a busy server from a read too heavy.
   */
  const withTimeout = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Clock.clockWith((clock) =>
      Effect.suspend(() => {
        const waits = new ConnectionWaits()
        const limitMs = options.queryTimeoutMs
        return effect.pipe(
          Effect.provideService(CurrentConnectionWaits, waits),
          Effect.timeoutOrElse({
            duration: Duration.millis(limitMs),
            orElse: () =>
              Effect.suspend(() => {
                const waitedMs = waits.waitedMs(monotonicMillisOf(clock))
                return Effect.fail(2 * waitedMs >= limitMs ? new ServerBusy({ limitMs, waitedMs }) : new QueryTimeout({ limitMs, waitedMs }))
              })
          })
        )
      })
    )

  /** `name`: the parameter that ends the range on the route (summary's is `to_day`). */
  const checkRange = (from: number, to: number, name = "to") =>
    to - from > options.maxRangeDays * MICROS_PER_DAY
      ? Effect.fail(new BadParam({ name, detail: `the range is longer than ${options.maxRangeDays} days` }))
      : Effect.void

  const range = (q: { readonly from?: string | undefined; readonly to?: string | undefined }) =>
    Effect.gen(function*() {
      const from = yield* orBad(parseInstant("from", yield* orBad(required("from", q.from))))
      const to = yield* orBad(parseInstant("to", yield* orBad(required("to", q.to)), "up", "end"))
      // Every route, exports included, refuses an inverted range before it plans anything.
      yield* Effect.fromResult(ordered(from, to))
      yield* checkRange(from, to)
      return { from, to }
    })

  /**
   * At most two sandboxed DuckDB runs (SQL, Parquet exports) at once, whatever the route, each in
   * a worker process of its own (ADR-35: it takes none of this process's DuckDB threads). A run
   * waits for a slot no longer than a run may hold one (SqlBusy past that), so the waiting line
   * drains as fast as the slots turn over, however many clients call. The slot is the scope's: one
   * taken just as the wait timed out is given back too.
   *
   * A caller (its key, or its address without one) may have SANDBOX_RUNS_PER_CALLER runs running or
   * waiting, past which its request is SqlBusy at once: one key sending many slow statements filled
   * the line, and every other key waited behind all of them until it was told sql_busy. Now another
   * caller waits behind at most one of its runs besides the two in the slots.
   */
  const sandboxed = (request: Parameters<typeof runSandboxed>[0]) => {
    const ms = slotHeldAtMostMs(request.timeoutMs)
    return Effect.scoped(Effect.gen(function*() {
      const { caller } = yield* CurrentRequest
      yield* Effect.acquireRelease(
        Effect.suspend(() => {
          const mine = sandboxRuns.get(caller) ?? 0
          if (mine >= SANDBOX_RUNS_PER_CALLER) return Effect.fail(new SqlBusy({ ms, perCaller: SANDBOX_RUNS_PER_CALLER }))
          sandboxRuns.set(caller, mine + 1)
          return Effect.void
        }),
        () =>
          Effect.sync(() => {
            const left = (sandboxRuns.get(caller) ?? 1) - 1
            if (left === 0) sandboxRuns.delete(caller)
            else sandboxRuns.set(caller, left)
          })
      )
      yield* sqlPermits.takeScoped(1).pipe(
        Effect.timeoutOrElse({ duration: Duration.millis(ms), orElse: () => Effect.fail(new SqlBusy({ ms })) })
      )
      return yield* runSandboxed(request)
    }))
  }

  /**
   * A sandboxed run over the files of `plans` that failed on one of them gone (another process's
   * `compact` expired the snapshot and removed its files meanwhile): that snapshot gone, to read
   * again, or a missing file when the table still has it; not the statement failing (400 sql_error,
   * which an export's client did not even write).
   */
  const sandboxedOver = (plans: ReadonlyArray<ScanPlan>, request: Parameters<typeof runSandboxed>[0]) =>
    sandboxed(request).pipe(Effect.catch(<E>(e: E): Effect.Effect<never, E | TableFileError | SnapshotNotFound> => {
      const blamed = e instanceof SqlFailed ? blameFile(plans.flatMap(plannedPaths))(e) : e
      return isMissingFile(blamed) ? expiredWhileRead(catalog, plans)(blamed) : Effect.fail(e)
    }))

  /**
   * The common shape of a read: pin, 304 or cached body, else run and encode (JSON, CSV or
   * Parquet with the route's column types). The cached part is the JSON or CSV data (and
   * cursor), gzipped once when the client takes gzip; meta is rebuilt per response.
   */
  const answerOnce = Effect.fnUntraced(function*(spec: ReadSpec) {
    const { correlationId } = yield* CurrentRequest
    const pinned = (yield* pinPage(spec.involved, spec.cursor)) ?? (yield* pin(spec.involved, spec.snapshot))
    // An answer at a snapshot is cached; one of a table with no snapshot yet (empty) is not.
    const cacheable = pinned.immutable || pinned.selector !== undefined
    const gzip = cacheable && spec.format !== "parquet" && acceptsGzip(spec.request.headers["accept-encoding"])
    const etag = etagOf(spec.route, spec.request.url, spec.format, pinned, gzip, spec.settings)
    const headers = cacheHeaders(etag, pinned, spec.settings)
    const ifNoneMatch = spec.request.headers["if-none-match"]
    if (etagMatches(ifNoneMatch, etag)) {
      return HttpServerResponse.empty({ status: 304, headers })
    }
    // `*`: 304 once the request is known to answer (matchesAny).
    const any = matchesAny(ifNoneMatch)
    const send = (body: Uint8Array, entry: CachedAnswer, m: Meta) => {
      if (any) return HttpServerResponse.empty({ status: 304, headers })
      const contentType = spec.format === "csv" ? "text/csv; charset=utf-8" : "application/json"
      const tail = spec.format === "csv" ? EMPTY : Buffer.from(`,"meta":${JSON.stringify(m)}}`)
      const paged = { ...headers, ...nextPageHeaders(spec.request.url, entry.nextCursor) }
      return entry.gzip === undefined
        ? twoParts(body, tail, { contentType, headers: paged })
        : twoParts(body, gzipEnd(entry.gzip, tail), { contentType, headers: { ...paged, "content-encoding": "gzip" } })
    }
    const cached = spec.format === "parquet" ? undefined : cache.get(etag)
    if (cached !== undefined) {
      return send(cached.body, cached.extra, { ...cached.extra.meta, correlation_id: correlationId, elapsed_ms: 0 })
    }
    if (spec.format === "parquet") {
      // Held until the body is written or the client is gone: the answer's file stays on disk until read.
      yield* streams.take(spec.request)
      const answer = yield* withTimeout(spec.run(pinned.selector, idsOf(pinned)))
      if (any) return HttpServerResponse.empty({ status: 304, headers })
      return yield* parquetResponse(
        writeRowsParquet(answer.rows.map((r) => presentRow(r as Record<string, unknown>)), spec.parquet!),
        { ...headers, ...nextPageHeaders(spec.request.url, answer.nextCursor) }
      )
    }
    /** The JSON or CSV data, encoded (and gzipped) as the cache keeps it. */
    const encode = Effect.gen(function*() {
      const answer = yield* withTimeout(spec.run(pinned.selector, idsOf(pinned)))
      const rows = answer.rows.map((r) => presentRow(r as Record<string, unknown>))
      let text: string
      if (spec.format === "csv") {
        const flat = spec.csvFlatten ? rows.map(flatten) : rows
        // An empty answer still says what its columns are.
        const columns = flat.length > 0 ? columnsOf(flat) : spec.csvColumns ?? Object.keys(spec.parquet ?? {})
        text = csvHeader(columns) + csvRows(flat, columns)
      } else text = `{"data":${JSON.stringify(rows)},"next_cursor":${JSON.stringify(answer.nextCursor ?? null)}`
      const bytes = Buffer.from(text)
      const compressed = gzip ? yield* gzipStart(bytes) : undefined
      const body = compressed?.bytes ?? bytes
      const m = answerMeta(answer, pinned, correlationId)
      const nextCursor = answer.nextCursor ?? null
      const entry: CachedAnswer = compressed === undefined ? { meta: m, nextCursor } : { meta: m, nextCursor, gzip: compressed.sums }
      // Charged what the entry keeps beside the body too (its meta is often larger than a small page).
      if (cacheable) cache.set(etag, body, entry, 2 * JSON.stringify(entry).length)
      return { body, entry } satisfies Encoded
    })
    if (!cacheable) {
      const { body, entry } = yield* encode
      return send(body, entry, entry.meta)
    }
    // Identical concurrent misses share one run: the first starts it on a fiber of its own (so
    // that its client going away fails none of the others), the rest wait for the same answer.
    // Joining (or registering and forking) and counting the waiter are one step, as is leaving: a
    // client leaving between them would leave a run registered that never starts, or one nobody
    // waits for. The last waiter gone stops the run: it ran on (to the query time limit, 30 s),
    // holding its pooled connection, so two abandoned heavy reads left every other read waiting.
    const { body, entry } = yield* Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const joined = inFlight.get(etag)
        const flight: Flight = joined ?? { answer: Deferred.makeUnsafe<Encoded, unknown>(), waiting: 0, run: undefined }
        flight.waiting++
        const leave = Effect.suspend(() => {
          if (--flight.waiting > 0 || flight.run === undefined || inFlight.get(etag) !== flight) return Effect.void
          inFlight.delete(etag)
          return Fiber.interrupt(flight.run)
        })
        const start = joined !== undefined ? Effect.void : Effect.suspend(() => {
          inFlight.set(etag, flight)
          return encode.pipe(
            Effect.exit,
            Effect.flatMap((exit) => {
              if (inFlight.get(etag) === flight) inFlight.delete(etag)
              return Deferred.done(flight.answer, exit)
            }),
            Effect.forkIn(scope),
            Effect.map((fiber) => void (flight.run = fiber))
          )
        })
        return start.pipe(Effect.andThen(restore(Deferred.await(flight.answer))), Effect.ensuring(leave))
      })
    )
    return send(body, entry, { ...entry.meta, correlation_id: correlationId })
  })

  const answerRead = (spec: ReadSpec) =>
    againIfLatestExpired(spec.snapshot._tag === "Latest" && spec.cursor === undefined, answerOnce(spec))

  return { pin, pinPage, withTimeout, checkRange, range, sandboxedOver, answerRead, streamSlot: streams.take }
})

/**
 * A read of the latest state whose snapshot table maintenance (another process's `compact`)
 * expired while it ran is run once more, over the state latest now: the client asked for no
 * snapshot in particular. A read pinned by id, instant or cursor stays SnapshotNotFound.
 */
export const againIfLatestExpired = <A, E, R>(latest: boolean, read: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  latest ? read.pipe(Effect.catchIf((e) => e instanceof SnapshotNotFound, () => read)) : read

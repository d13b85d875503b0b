/** The "replay" group: GET /v1/replay, trades and quotes in exchange-time order as NDJSON or server-sent events. */
import { Cause, type Duration, Effect, Option, Schedule, Stream } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { BadParam, negotiate, parsePositiveNumber, parseSnapshot, parseSymbols, parseTables } from "../../domain/api/params.ts"
import { jsonLine } from "../../domain/ndjson.ts"
import { checkResume, END_EVENT_ID, eventId, parseLastEventId, positions, queryFingerprint, ReplayResumeMismatch } from "../../domain/api/replayResume.ts"
import { ReplayEngine, type ReplayEvent } from "../../services/ReplayEngine.ts"
import { pinnedSnapshotGone, SnapshotNotFound } from "../../services/TableScanner.ts"
import { CurrentConnectionOwner } from "../duckdb/DuckDb.ts"
import { CurrentRequest, type HandlerOptions } from "./handlerContext.ts"
import { guard, orBad } from "./problems.ts"
import { snapshotIdsHeader } from "./readHeaders.ts"
import { idsOf } from "../query/pinning.ts"
import { againIfLatestExpired, type Reads } from "./reads.ts"
import { presentRow } from "./respond.ts"

const orMismatch = <A>(value: A | ReplayResumeMismatch): Effect.Effect<A, ReplayResumeMismatch> =>
  value instanceof ReplayResumeMismatch ? Effect.fail(value) : Effect.succeed(value)

/** How often a quiet SSE replay says it is alive: below the 60 s idle limit common proxies apply. */
const KEEP_ALIVE = "15 seconds"

/**
 * An SSE body with a comment line every `interval` beside it, ending when it ends: a paced replay
 * can go quiet for hours (overnight at speed 1), and proxies close connections that stay idle.
 * SSE clients ignore comments; NDJSON has none, so only SSE gets them.
 */
export const withKeepAlive = <E, R>(sse: Stream.Stream<string, E, R>, interval: Duration.Input): Stream.Stream<string, E, R> =>
  Stream.merge(sse, Stream.fromSchedule(Schedule.spaced(interval)).pipe(Stream.map(() => ": keep-alive\n\n")), { haltStrategy: "left" })

export const replayGroup = (options: HandlerOptions, reads: Reads) =>
  HttpApiBuilder.group(Api, "replay", (handlers) =>
    Effect.gen(function*() {
      const replayEngine = yield* ReplayEngine

      const replay = Effect.fnUntraced(function*({ query: q, request }: {
        readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly tables?: string | undefined; readonly speed?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "ndjson" | "sse" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["ndjson", "sse"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        const { from, to } = yield* reads.range(q)
        const tablesList = yield* orBad(parseTables(q.tables))
        const speed = q.speed === undefined ? undefined : yield* orBad(parsePositiveNumber("speed", q.speed, 1_000_000))
        const involved = [...tablesList]
        // An SSE client reconnecting: on from its last event, at the snapshots it was read at.
        const lastEventId = request.headers["last-event-id"]
        // NDJSON has no event ids: read from the start, a resume would repeat every event the client has.
        if (format !== "sse" && lastEventId !== undefined && lastEventId !== "") {
          return yield* new BadParam({ name: "Last-Event-ID", detail: "resumes a server-sent events replay (format=sse); an NDJSON replay has no event ids to resume after: ask for SSE, or leave it out" })
        }
        const parsedResume = format === "sse" ? yield* orBad(parseLastEventId(lastEventId)) : undefined
        // no-store as every replay answer: a cache keeping this 204 would end the next replay of the URL unread.
        if (parsedResume === END_EVENT_ID) return HttpServerResponse.empty({ status: 204, headers: { "cache-control": "no-store" } })
        // Each id names the query it belongs to (ADR-97): the same position in another query is another event.
        const query = queryFingerprint({ from, to, symbols, tables: tablesList, snapshot })
        const resume = parsedResume === undefined ? undefined : yield* orMismatch(checkResume(parsedResume, query))
        if (resume !== undefined && (resume.at < from || resume.at >= to)) {
          return yield* new BadParam({ name: "Last-Event-ID", detail: "names an event outside this replay's range" })
        }
        const { correlationId, caller } = yield* CurrentRequest
        const over = Effect.fnUntraced(function*(current: Effect.Success<ReturnType<typeof reads.pin>>) {
          const pinned = resume === undefined
            ? current
            : { ...current, ids: Object.fromEntries(involved.map((t) => [t, resume.snapshots[t]])) }
          // Exactly the snapshots K2-Snapshot-Ids names, by id (a table named none reads as empty): as
          // current or as of an instant, the plan would read commits landing after the pin.
          const ids = idsOf(pinned)
          const read = involved.filter((t) => ids[t] != null)
          // Planned before the 200, so that a plan that fails is the problem any other read answers;
          // only what reading the files meets reaches the client inside the stream.
          const events = read.length === 0 ? Stream.empty : yield* reads.withTimeout(replayEngine.plan({
            from: resume === undefined ? from : resume.at,
            to,
            symbols,
            tables: read,
            snapshots: Object.fromEntries(read.map((t) => [t, { _tag: "ById", snapshotId: ids[t]! }])),
            ...(speed === undefined ? {} : { pace: { _tag: "Paced", speed } }),
            // A client may stop reading and stay connected: windows streamed from pooled connections
            // would hold them (two of the default two), and every other read would wait and 503.
            wholeWindows: true
          }).pipe(
            // The snapshots the id names were expired since (ADR-33): resuming cannot answer the rest of that replay.
            Effect.mapError((e) =>
              resume !== undefined && e instanceof SnapshotNotFound
                ? pinnedSnapshotGone(e, "Last-Event-ID")
                : e
            )
          ))
          return { pinned, events }
        })
        // A replay of the latest state whose snapshot maintenance expired between the pin and the
        // plan is pinned and planned again over the state latest now, as every other latest read:
        // the client asked for no snapshot in particular. The slot is taken once a request.
        const { events, pinned } = yield* againIfLatestExpired(
          snapshot._tag === "Latest" && resume === undefined,
          reads.pin(involved, snapshot).pipe(
            // Held until the body is written or the client is gone: a stalled reader keeps two windows in memory.
            Effect.tap(() => reads.streamSlot(request)),
            Effect.flatMap(over)
          )
        )
        const line = (e: ReplayEvent) => jsonLine(presentRow(e as unknown as Record<string, unknown>))
        // The client gets only the correlation id once the headers are out: the cause must reach the log.
        // Annotated here: the body streams after the request's log annotations are gone.
        const failed = (cause: unknown, text: string) =>
          Stream.fromEffect(Effect.as(Effect.logWarning("replay stream failed", cause).pipe(Effect.annotateLogs({ correlation_id: correlationId })), text))
        /**
         * What the last line says of a failure after the headers: a snapshot expired and its files
         * removed by table maintenance while the replay read it (a replay longer than the tables keep
         * snapshots, ADR-33) is `snapshot_not_found` with its detail, to replay again; any other is `replay_failed`.
         */
        const failure = (cause: Cause.Cause<unknown>) => {
          const error = Option.getOrUndefined(Cause.findErrorOption(cause))
          return error instanceof SnapshotNotFound
            ? { code: "snapshot_not_found", detail: error.message, correlation_id: correlationId }
            : { code: "replay_failed", correlation_id: correlationId }
        }
        const numbered = positions({ trades: pinned.ids["trades"] ?? null, quotes: pinned.ids["quotes"] ?? null }, resume)
        let sent = 0
        const sse = (es: ReadonlyArray<ReplayEvent>) => {
          let text = ""
          for (const e of es) {
            const at = numbered.next(e.exchange_timestamp)
            if (at !== undefined) {
              text += `id: ${eventId(at, query)}\nevent: ${e._tag.toLowerCase()}\ndata: ${line(e)}\n\n`
              sent++
            }
          }
          return text
        }
        // EventSource reconnects by itself after an error event too. One that came after events may
        // resume after them (a failure that passed); one before any would fail the same way again
        // (a file still missing), every few seconds for good: its id `end` makes the reconnect a 204.
        const errorEvent = (data: string) => `${sent === 0 ? `id: ${END_EVENT_ID}\n` : ""}event: error\ndata: ${data}\n\n`
        const text = format === "sse"
          ? withKeepAlive(
            events.pipe(
              Stream.mapArray((es) => [sse(es)]),
              Stream.concat(Stream.succeed(`id: ${END_EVENT_ID}\nevent: end\ndata: {}\n\n`)),
              Stream.catchCause((cause) => failed(cause, errorEvent(JSON.stringify(failure(cause)))))
            ),
            KEEP_ALIVE
          )
          : events.pipe(
            Stream.mapArray((es) => [es.map((e) => `${line(e)}\n`).join("")]),
            Stream.catchCause((cause) => {
              const { code, ...rest } = failure(cause)
              return failed(cause, `${JSON.stringify({ error: code, ...rest })}\n`)
            })
          )
        // Its reads wait for a DuckDB connection in the caller's line (ADR-100).
        return HttpServerResponse.stream(Stream.encodeText(text).pipe(Stream.provideService(CurrentConnectionOwner, caller)), {
          contentType: format === "sse" ? "text/event-stream" : "application/x-ndjson",
          headers: { "cache-control": "no-store", "k2-snapshot-ids": snapshotIdsHeader(pinned) }
        })
      })

      return handlers.handle("replay", (r) => guard(replay(r)))
    }))

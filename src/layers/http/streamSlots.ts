/**
 * Slots of the responses that hold something for as long as their client reads: rows in this
 * process's memory (a replay holds two windows, ~20 MB; a CSV export a page, ~3 MB; a SQL answer
 * its body, up to K2_API_SQL_MAX_BYTES) or a Parquet answer's temp file on disk (up to 2 GiB). The
 * sandbox's slots bound SQL and Parquet runs, not what their clients hold once they are written.
 * A client that stops reading and stays connected keeps them, and the rate limit counts requests,
 * not open streams. Past the server's slots, or one caller's, the stream is refused before its 200.
 */
import { Effect, Metric, Schema, type Scope } from "effect"
import type { HttpServerRequest } from "effect/http"
import { registerGauge } from "../telemetry/metrics.ts"
import { clientAddress, CurrentPrincipal } from "./principal.ts"

/** Every slot taken (`perKey`: every one this caller may take): a 503 with Retry-After. */
export class StreamsBusy extends Schema.TaggedError<StreamsBusy>()("StreamsBusy", { limit: Schema.Number, perKey: Schema.Boolean }) {
  override get message() {
    return this.perKey
      ? `this caller (its key, or its address without one) is streaming as many replays, exports and SQL answers as it may (${this.limit}, K2_API_MAX_STREAMS_PER_KEY); retry when one ends`
      : `the server is streaming as many replays, exports and SQL answers as it may (${this.limit}, K2_API_MAX_STREAMS); retry later`
  }
}

/** Seconds a refused client is told to wait: slots turn over as streams end, not in a second. */
export const STREAMS_RETRY_AFTER = "5"

const streamsOpen = Metric.gauge("k2_http_streams_open", { description: "Replays, CSV exports, Parquet answers and SQL answers streaming (slots of K2_API_MAX_STREAMS taken)" })

/** The server's slots, its gauge registered for the scope's life. */
export const makeStreamSlots = Effect.fnUntraced(function*(options: { readonly maxStreams: number; readonly maxStreamsPerKey: number }) {
  let open = 0
  const byCaller = new Map<string, number>()
  /** Requests holding a slot: a read run again (its snapshot expired meanwhile) asks again, and must not take a second. */
  const holding = new WeakSet<HttpServerRequest.HttpServerRequest>()
  /**
   * Takes a slot for the request's scope, which the server closes once the body is written or
   * the client is gone: the slot is held for the stream's life and given back however it ends.
   * The caller is its key, or its address without one (as the rate limit counts). One a request.
   */
  const take = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<void, StreamsBusy, Scope.Scope> =>
    Effect.gen(function*() {
      if (holding.has(request)) return
      const principal = yield* CurrentPrincipal
      const caller = principal._tag === "Key" ? `key:${principal.name}` : clientAddress(request)
      yield* Effect.acquireRelease(
        Effect.suspend(() => {
          const mine = byCaller.get(caller) ?? 0
          if (mine >= options.maxStreamsPerKey) return Effect.fail(new StreamsBusy({ limit: options.maxStreamsPerKey, perKey: true }))
          if (open >= options.maxStreams) return Effect.fail(new StreamsBusy({ limit: options.maxStreams, perKey: false }))
          open++
          byCaller.set(caller, mine + 1)
          holding.add(request)
          return Effect.void
        }),
        () =>
          Effect.sync(() => {
            holding.delete(request)
            open--
            const left = (byCaller.get(caller) ?? 1) - 1
            if (left === 0) byCaller.delete(caller)
            else byCaller.set(caller, left)
          })
      )
    })
  yield* registerGauge(streamsOpen, () => open)
  return { take }
})

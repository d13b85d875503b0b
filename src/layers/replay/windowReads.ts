/**
 * A window's statement read on one pooled connection: whole (`readAll`, a paced or `wholeWindows`
 * replay) or streamed chunk by chunk into the replay's queue in its turn (`streamInto`).
 */
import type { DuckDBDataChunk, DuckDBValue } from "@duckdb/node-api"
import { Cause, Deferred, Effect, Exit, Queue } from "effect"
import type { ReplayError, ReplayEvent } from "../../services/ReplayEngine.ts"
import { attempt, endStream, executeOne } from "../duckdb/DuckDb.ts"
import { type ChunkReader, chunkToEvents } from "./chunkEvents.ts"

export type ReaderOf = (names: ReadonlyArray<string>) => ChunkReader

export const readAll = (connection: import("@duckdb/node-api").DuckDBConnection, sql: string, values: ReadonlyArray<DuckDBValue>, readerOf: ReaderOf) =>
  Effect.gen(function*() {
    // Chunk by chunk, as streamInto: a consumer gone mid-window stops the read at the chunk in flight.
    const result = yield* attempt("replay window", () => executeOne(connection, sql, values, (s) => s.stream()), () => connection.interrupt())
    const reader = readerOf(result.columnNames())
    const out: Array<ReplayEvent> = []
    for (;;) {
      const chunk = yield* attempt("replay window", () => result.fetchChunk())
      if (chunk === null || chunk.rowCount === 0) return out
      for (const e of chunkToEvents(chunk, reader)) out.push(e)
    }
  }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : endStream(connection)))

export const streamInto = (
  connection: import("@duckdb/node-api").DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  readerOf: ReaderOf,
  queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>,
  /** Done when the previous window has streamed out: only then may this one. */
  turn: Deferred.Deferred<void, ReplayError> | undefined
) => {
  // One chunk ahead: DuckDB produces the next chunk (on the libuv pool) while this one becomes events.
  let ahead: Promise<DuckDBDataChunk | null> | undefined
  // The connection goes back to the pool only once no fetch is in flight on it, and a window left
  // before its end (the consumer gone while it started or played, a failure) is ended there.
  const settled = Effect.promise(() => ahead === undefined ? Promise.resolve() : ahead.then(() => undefined, () => undefined))
  return Effect.gen(function*() {
    // A consumer that stops early must not leave a window's sort running on a pooled connection.
    const result = yield* attempt("replay window", () => executeOne(connection, sql, values, (s) => s.stream()), () => connection.interrupt())
    const fetchAhead = () => {
      ahead = result.fetchChunk()
      ahead.catch(() => undefined) // awaited below or, when this window stops early, by the finalizer
      return ahead
    }
    let next = fetchAhead()
    if (turn !== undefined) yield* Deferred.await(turn)
    const reader = readerOf(result.columnNames())
    for (;;) {
      const chunk = yield* attempt("replay window", () => next)
      if (chunk === null || chunk.rowCount === 0) return
      next = fetchAhead()
      yield* Queue.offerAll(queue, chunkToEvents(chunk, reader))
    }
  }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? settled : Effect.andThen(settled, endStream(connection))))
}

/**
 * Every failure of a handler becomes a problem+json response here: typed failures with their
 * status and code, anything else a 500 with no detail (and logged). Nothing leaks a path, a
 * stack or a key.
 */
import { Effect, Schema } from "effect"
import type { HttpServerResponse } from "effect/http"
import { BadParam } from "../../domain/api/params.ts"
import { ReplayResumeMismatch } from "../../domain/api/replayResume.ts"
import { TableFileError } from "../../domain/iceberg/errors.ts"
import { InvalidQuery, MissingColumn } from "../../domain/query/errors.ts"
import { DuckDbError } from "../duckdb/DuckDb.ts"
import { CatalogError } from "../../services/Catalog.ts"
import { SnapshotNotFound, UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { CurrentRequest } from "./handlerContext.ts"
import { problem } from "./respond.ts"
import { SqlBusy, SqlFailed, SqlRefused, SqlTimeout, SqlUnavailable } from "./sqlErrors.ts"
import { StreamsBusy, STREAMS_RETRY_AFTER } from "./streamSlots.ts"

/** How long a read past K2_API_QUERY_TIMEOUT_MS took (`limitMs`), and how much of it went to waiting for a pooled DuckDB connection. */
const TimedOut = { limitMs: Schema.Number, waitedMs: Schema.Number }

/**
 * A read past K2_API_QUERY_TIMEOUT_MS that spent most of it running (503, no Retry-After: the same
 * read would time out again). An Error, so its warning names it (it was logged as [object Object]).
 */
export class QueryTimeout extends Schema.TaggedError<QueryTimeout>()("QueryTimeout", TimedOut) {
  override get message() {
    const waited = Math.round(this.waitedMs)
    return `the query took longer than the server allows (${this.limitMs} ms${waited > 0 ? `, ${waited} ms of it waiting for a connection` : ""}): a shorter range or fewer symbols may answer`
  }
}

/** A read past K2_API_QUERY_TIMEOUT_MS that spent most of it waiting for a pooled DuckDB connection (503 with Retry-After). */
export class ServerBusy extends Schema.TaggedError<ServerBusy>()("ServerBusy", TimedOut) {
  override get message() {
    return `the server is busy: the read spent ${Math.round(this.waitedMs)} of the ${this.limitMs} ms it may take waiting for a connection, every one running other reads; retry later`
  }
}

/** A table not created yet: the client's 404 (serve may start before ingest), logged no more than a snapshot not kept. */
const noSuchTable = (error: unknown): error is CatalogError => error instanceof CatalogError && error.reason._tag === "NoSuchTable"

/** Typed failures as problems; anything else is a 500 with no detail (and logged). */
const toProblem = (error: unknown, correlationId: string) => {
  if (error instanceof BadParam) {
    return error.name === "Accept"
      ? problem(406, "not_acceptable", error.message, correlationId)
      : problem(400, error.code ?? "bad_request", error.message, correlationId)
  }
  if (error instanceof ReplayResumeMismatch) return problem(400, "resume_mismatch", error.message, correlationId)
  if (error instanceof InvalidQuery) {
    const code = error.reason._tag.replace(/[A-Z]/g, (c, i) => `${i === 0 ? "" : "_"}${c.toLowerCase()}`)
    return problem(400, code, error.message, correlationId)
  }
  if (error instanceof SnapshotNotFound) return problem(404, "snapshot_not_found", error.message, correlationId)
  if (noSuchTable(error)) return problem(404, "table_not_found", error.message, correlationId)
  // An outage the client waits out (a database restarting, a broken connection): when to ask again, as the other passing 503s say.
  if (error instanceof CatalogError && error.reason._tag === "CatalogUnavailable") {
    return problem(503, "catalog_unavailable", "the catalog is unavailable", correlationId, { "retry-after": STREAMS_RETRY_AFTER })
  }
  if (error instanceof SqlRefused) return problem(400, "sql_refused", error.message, correlationId)
  if (error instanceof SqlFailed) return problem(400, "sql_error", error.message, correlationId)
  if (error instanceof SqlTimeout) return problem(503, "query_timeout", error.message, correlationId)
  if (error instanceof SqlBusy) return problem(503, "sql_busy", error.message, correlationId, { "retry-after": "1" })
  if (error instanceof StreamsBusy) return problem(503, "streams_busy", error.message, correlationId, { "retry-after": STREAMS_RETRY_AFTER })
  // The server's trouble (logged below), not the statement's: no 400 the client would not retry.
  if (error instanceof SqlUnavailable) return problem(503, "sql_unavailable", error.message, correlationId)
  if (error instanceof QueryTimeout) return problem(503, "query_timeout", error.message, correlationId)
  if (error instanceof ServerBusy) return problem(503, "server_busy", error.message, correlationId, { "retry-after": STREAMS_RETRY_AFTER })
  // DuckDB's memory limit met (K2_DUCKDB_MEMORY_LIMIT, shared by every statement running): a smaller
  // read, or the same one when the server is less busy, may well answer. It was a bare 500.
  if (error instanceof DuckDbError && error.reason === "OutOfMemory") {
    return problem(503, "out_of_memory", "the query needs more memory than the server allows: read a shorter range or fewer symbols, or retry later", correlationId, { "retry-after": STREAMS_RETRY_AFTER })
  }
  // A table another engine took where K2 does not follow (a feature, format version 3): no retry helps.
  if (error instanceof UnsupportedTableFeature) return problem(501, "unsupported_table", `${error.table} uses ${error.feature}, which K2 does not read`, correlationId)
  // A column an answer needs that another engine dropped or nulled (its message names the table and column): no retry helps either.
  if (error instanceof MissingColumn) return problem(501, "unsupported_table", error.message, correlationId)
  const fileError = error instanceof CatalogError && error.reason._tag === "TableFileError" ? error.reason : error
  if (fileError instanceof TableFileError && fileError.reason._tag === "UnsupportedFormatVersion") {
    const { table, formatVersion } = fileError.reason
    return problem(501, "unsupported_table", `${table} is Iceberg format version ${formatVersion}; K2 reads format version 2`, correlationId)
  }
  if (error instanceof TableFileError) return problem(500, "data_file_error", "a data file of the table could not be read", correlationId)
  return problem(500, "internal", "internal error", correlationId)
}

const logFailure = (error: unknown) =>
  error instanceof BadParam || error instanceof ReplayResumeMismatch || error instanceof InvalidQuery || error instanceof SnapshotNotFound || error instanceof SqlRefused ||
    error instanceof SqlFailed || noSuchTable(error)
    ? Effect.void
    : Effect.logWarning("request failed", error instanceof Error ? `${error.name}: ${error.message}` : String(error))

/** Runs a handler body, turning every failure into its problem response. */
export const guard = <E, R>(body: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  body.pipe(
    Effect.catch((error: unknown) =>
      Effect.gen(function*() {
        const { correlationId } = yield* CurrentRequest
        yield* logFailure(error)
        return toProblem(error, correlationId)
      })
    )
  )

/** A parsed parameter, or its BadParam as the failure (a 400, or 406 for Accept). */
export const orBad = <A>(value: A | BadParam): Effect.Effect<A, BadParam> => value instanceof BadParam ? Effect.fail(value) : Effect.succeed(value)

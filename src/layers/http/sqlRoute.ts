/** The "sql" group: POST /v1/sql, read-only SQL over the pinned snapshots in the locked-down sandbox (sql.ts). */
import { Effect } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { BadParam, negotiate, parseSnapshot, repeatedKey } from "../../domain/api/params.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import { scannedOf } from "../../services/QueryEngine.ts"
import { nothingOf, TableScanner } from "../../services/TableScanner.ts"
import { CurrentRequest, type HandlerOptions } from "./handlerContext.ts"
import { guard, orBad } from "./problems.ts"
import { snapshotIdsHeader } from "./readHeaders.ts"
import { idsOf } from "../query/pinning.ts"
import { againIfLatestExpired, answerMeta, type Reads } from "./reads.ts"
import { csvHeader, csvRows, parquetResponse } from "./respond.ts"
import { sandboxTableOf, truncationHeaders } from "./sql.ts"

export const sqlGroup = (options: HandlerOptions, reads: Reads) =>
  HttpApiBuilder.group(Api, "sql", (handlers) =>
    Effect.gen(function*() {
      const scanner = yield* TableScanner

      const sql = Effect.fnUntraced(function*({ payload, request }: {
        readonly payload: { readonly sql: string; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly limit?: number | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const { correlationId } = yield* CurrentRequest
        // The body as sent (read once, when the payload was decoded): a field it names twice is refused,
        // as a query parameter given twice is, not decoded as its last value.
        const repeated = repeatedKey(yield* request.text.pipe(Effect.orElseSucceed(() => "")))
        if (repeated !== undefined) {
          return yield* new BadParam({ name: "body", detail: `${repeated} is given more than once: give each field of the JSON body once` })
        }
        const format = yield* orBad(negotiate(payload.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(payload.snapshot_id, payload.as_of))
        const involved: Array<TableName> = ["trades", "quotes", "instruments", "sequence_events"]
        const pinned = yield* reads.pin(involved, snapshot)
        const maxRows = Math.min(payload.limit ?? options.sqlMaxRows, options.sqlMaxRows)
        const ids = idsOf(pinned)
        // Planning (catalog and manifests) is a read like any other: under the query time limit.
        const plans = yield* reads.withTimeout(Effect.forEach(involved, (t) =>
          ids[t] == null ? Effect.succeed(nothingOf(t)) : scanner.plan(identifierOf(t), { snapshot: { _tag: "ById", snapshotId: ids[t] } })))
        const sandboxTables = plans.map((p, i) => sandboxTableOf(involved[i]!, p, { widenDecimals: true }))
        const headers = { "cache-control": "no-store", "k2-snapshot-ids": snapshotIdsHeader(pinned) }
        // Held until the body is written or the client is gone: a client that stops reading keeps the
        // answer, up to K2_API_SQL_MAX_BYTES in memory (a Parquet one up to 2 GiB on disk).
        yield* reads.streamSlot(request)
        const started = performance.now()
        if (format === "parquet") {
          return yield* parquetResponse((out) =>
            reads.sandboxedOver(plans, { sql: payload.sql, tables: sandboxTables, maxRows, timeoutMs: options.sqlTimeoutMs, parquetOut: out }).pipe(
              Effect.map(truncationHeaders)
            ), headers)
        }
        const result = yield* reads.sandboxedOver(plans, { sql: payload.sql, tables: sandboxTables, maxRows, maxBytes: options.sqlMaxBytes, timeoutMs: options.sqlTimeoutMs })
        // A cut answer says which limit cut it: in the JSON body, and as a header.
        const cut = { ...headers, ...truncationHeaders(result) }
        if (format === "csv") {
          const columns = result.columns.map((c) => c.name)
          return HttpServerResponse.text(csvHeader(columns) + csvRows(result.rows, columns), { contentType: "text/csv; charset=utf-8", headers: cut })
        }
        // What each table's read touched, as every read reports it (SQL plans a table whole), named as the SQL names it.
        const scanned = plans.map((p, i) => ({ ...scannedOf(p), table: involved[i]! }))
        return HttpServerResponse.text(JSON.stringify({
          data: result.rows,
          next_cursor: null,
          columns: result.columns,
          truncated: result.truncatedBy !== null,
          truncated_by: result.truncatedBy,
          meta: answerMeta({ scanned, elapsedMs: performance.now() - started, rowsReturned: result.rows.length }, pinned, correlationId)
        }), { contentType: "application/json", headers: cut })
      })

      // SQL names no snapshot by an empty `snapshot_id` and `as_of` as by absent ones.
      const latest = (payload: { readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined }) =>
        (payload.snapshot_id ?? "") === "" && (payload.as_of ?? "") === ""
      return handlers.handle("sql", (r) => guard(againIfLatestExpired(latest(r.payload), sql(r))))
    }))

/** The "sql" group: POST /v1/sql, read-only SQL over the pinned snapshots in the locked-down sandbox (sql.ts). */
import { Effect } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { negotiate, parseSnapshot } from "../../domain/api/params.ts"
import { definitionOf, identifierOf, type TableName } from "../../domain/tables.ts"
import { type ScanStats, TableScanner } from "../../services/TableScanner.ts"
import { plannedPaths } from "../duckdb/readPlan.ts"
import { CurrentRequest, type HandlerOptions } from "./handlerContext.ts"
import { guard, orBad } from "./problems.ts"
import { snapshotIdsHeader } from "./readHeaders.ts"
import { idsOf, type Reads } from "./reads.ts"
import { csvHeader, csvRows, parquetResponse } from "./respond.ts"

export const sqlGroup = (options: HandlerOptions, reads: Reads) =>
  HttpApiBuilder.group(Api, "sql", (handlers) =>
    Effect.gen(function*() {
      const scanner = yield* TableScanner

      const sql = Effect.fnUntraced(function*({ payload, request }: {
        readonly payload: { readonly sql: string; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly limit?: number | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const { correlationId } = yield* CurrentRequest
        const format = yield* orBad(negotiate(payload.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(payload.snapshot_id, payload.as_of))
        const involved: Array<TableName> = ["trades", "quotes", "instruments"]
        const pinned = yield* reads.pin(involved, snapshot)
        const maxRows = Math.min(payload.limit ?? options.sqlMaxRows, options.sqlMaxRows)
        const ids = idsOf(pinned)
        // Planning (catalog and manifests) is a read like any other: under the query time limit.
        const sandboxTables = yield* reads.withTimeout(Effect.forEach(involved, (t) =>
          ids[t] == null
            ? Effect.succeed({ name: t, schema: definitionOf(t).schema, files: [] as ReadonlyArray<string>, stats: undefined as ScanStats | undefined })
            : scanner.plan(identifierOf(t), { snapshot: { _tag: "ById", snapshotId: ids[t] } }).pipe(
              Effect.map((p) => ({ name: t, schema: definitionOf(t).schema, files: plannedPaths(p), stats: p.stats }))
            )))
        const headers = { "cache-control": "no-store", "k2-snapshot-ids": snapshotIdsHeader(pinned) }
        const started = Date.now()
        if (format === "parquet") {
          return yield* parquetResponse((out) =>
            reads.sandboxed({ sql: payload.sql, tables: sandboxTables, maxRows, timeoutMs: options.sqlTimeoutMs, parquetOut: out }), headers)
        }
        const result = yield* reads.sandboxed({ sql: payload.sql, tables: sandboxTables, maxRows, maxBytes: options.sqlMaxBytes, timeoutMs: options.sqlTimeoutMs })
        // A cut answer says which limit cut it: in the JSON body, and as a header (CSV has no other place).
        const cut = result.truncatedBy === null ? headers : { ...headers, "k2-truncated": result.truncatedBy }
        if (format === "csv") {
          const columns = result.columns.map((c) => c.name)
          return HttpServerResponse.text(csvHeader(columns) + csvRows(result.rows, columns), { contentType: "text/csv; charset=utf-8", headers: cut })
        }
        const scanned = sandboxTables.map((t) => ({
          table: t.name,
          snapshot_id: pinned.ids[t.name] ?? null,
          // From the manifests, as every read reports them: SQL plans a table whole.
          files_planned: t.stats?.filesPlanned ?? 0,
          files_total: t.stats?.filesTotal ?? 0,
          bytes_planned: t.stats?.bytesPlanned ?? 0,
          bytes_total: t.stats?.bytesTotal ?? 0,
          planning_ms: Number((t.stats?.planningMs ?? 0).toFixed(3))
        }))
        return HttpServerResponse.text(JSON.stringify({
          data: result.rows,
          next_cursor: null,
          columns: result.columns,
          truncated: result.truncatedBy !== null,
          truncated_by: result.truncatedBy,
          meta: {
            correlation_id: correlationId,
            snapshot_ids: pinned.ids,
            scanned,
            files_scanned: scanned.reduce((n, s) => n + s.files_planned, 0),
            bytes_scanned: scanned.reduce((n, s) => n + s.bytes_planned, 0),
            rows: result.rows.length,
            elapsed_ms: Date.now() - started
          }
        }), { contentType: "application/json", headers: cut })
      })

      return handlers.handle("sql", (r) => guard(sql(r)))
    }))

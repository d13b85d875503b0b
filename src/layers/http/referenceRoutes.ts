/** The "reference" group: symbols, instruments, a table's snapshots and its stats. */
import { Effect } from "effect"
import type { HttpServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { negotiate, parseIntParam, parseSnapshot, parseSymbols } from "../../domain/api/params.ts"
import { CHECKPOINT_PREFIX } from "../../domain/ingest/marker.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import { InvalidQuery } from "../../domain/query/errors.ts"
import { decodeSnapshotCursor, encodeSnapshotCursor, SNAPSHOT_PAGE, SNAPSHOT_PAGE_MAX, snapshotPage } from "../../domain/query/snapshotPages.ts"
import { formatIsoMicros } from "../../domain/time.ts"
import { CatalogError, showIdentifier } from "../../services/Catalog.ts"
import { QueryEngine } from "../../services/QueryEngine.ts"
import { SnapshotNotFound } from "../../services/TableScanner.ts"
import type { HandlerOptions } from "./handlerContext.ts"
import { instrumentColumns, snapshotColumns, statsColumns, symbolColumns } from "./parquetColumns.ts"
import { guard, orBad } from "./problems.ts"
import type { Reads } from "./reads.ts"

type ListQuery = { readonly symbols?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }

export const referenceGroup = (options: HandlerOptions, reads: Reads) =>
  HttpApiBuilder.group(Api, "reference", (handlers) =>
    Effect.gen(function*() {
      const engine = yield* QueryEngine

      const symbolsRoute = Effect.fnUntraced(function*({ query: q, request }: { readonly query: ListQuery; readonly request: HttpServerRequest.HttpServerRequest }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        return yield* reads.answerRead({
          route: "symbols",
          parquet: symbolColumns,
          request,
          format,
          involved: ["trades", "quotes"],
          snapshot,
          csvFlatten: true,
          csvColumns: ["symbol", ...["trades", "quotes"].flatMap((t) => ["count", "first", "last"].map((k) => `${t}_${k}`))],
          // Each table by the id the answer names: planned later, as of an instant or as current, a
          // commit landing in between could be read.
          run: (_, snapshotIds) => engine.symbols({ symbols, snapshotIds })
        })
      })

      const instrumentsRoute = Effect.fnUntraced(function*({ query: q, request }: { readonly query: ListQuery; readonly request: HttpServerRequest.HttpServerRequest }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        return yield* reads.answerRead({
          route: "instruments",
          parquet: instrumentColumns,
          request,
          format,
          involved: ["instruments"],
          snapshot,
          run: (selector) =>
            engine.instruments({ symbols, ...(selector === undefined ? {} : { snapshot: selector })}).pipe(
              Effect.catchIf((e) => e instanceof CatalogError && e.reason._tag === "NoSuchTable", () =>
                Effect.succeed({ rows: [], scanned: [], rowsReturned: 0, elapsedMs: 0 }))
            )
        })
      })

      // A checkpoint's entry names its side file by location: the file name says which one without
      // telling a reader the server's directories (no answer does: problems.ts, sqlGate.ts `scrub`).
      const withoutPaths = (summary: Readonly<Record<string, string>>) =>
        Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, k.startsWith(CHECKPOINT_PREFIX) ? v.slice(v.lastIndexOf("/") + 1) : v]))

      const snapshotsRoute = Effect.fnUntraced(function*({ params, query: q, request }: {
        readonly params: { readonly table: TableName }
        readonly query: { readonly limit?: string | undefined; readonly cursor?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        // Pages (snapshotPages.ts): a table keeping days of one-second commits lists tens of
        // thousands, and "the last few" should not cost thousands either.
        const limit = (yield* orBad(parseIntParam("limit", q.limit, { min: 1, max: SNAPSHOT_PAGE_MAX }))) ?? SNAPSHOT_PAGE
        const cursor = q.cursor === undefined
          ? undefined
          : yield* Effect.fromResult(decodeSnapshotCursor(q.cursor, params.table)).pipe(Effect.mapError((reason) => new InvalidQuery({ reason })))
        // A later page lists the snapshots still kept up to the pin, which expiry shortens at that
        // same snapshot id: its ETag names how many are kept, and it is revalidated, never immutable
        // (a cached page, or a 304, answered snapshots expired since). Commits after the pin change none.
        const kept = cursor === undefined ? undefined : yield* engine.snapshots(params.table, { upTo: cursor.pinned }).pipe(
          Effect.map((listed) => `kept:${listed.length}`),
          // The pin says what a table not there is (404).
          Effect.catchIf((e) => e instanceof CatalogError && e.reason._tag === "NoSuchTable", () => Effect.succeed(undefined))
        )
        return yield* reads.answerRead({
          route: `snapshots/${params.table}`,
          ...(kept === undefined ? {} : { settings: kept }),
          parquet: snapshotColumns,
          request,
          format,
          involved: [params.table],
          // A later page lists the state the first one pinned.
          snapshot: cursor === undefined ? { _tag: "Latest" } : { _tag: "ById", snapshotId: cursor.pinned },
          csvFlatten: true,
          run: (selector) =>
            Effect.gen(function*() {
              // A table with no snapshot at the pin lists none, whatever has been committed since.
              const pinned = selector?._tag === "ById" ? selector.snapshotId : undefined
              const all = pinned === undefined ? [] : yield* engine.snapshots(params.table, { upTo: pinned })
              const paged = snapshotPage(all, limit, cursor?.before)
              if (paged === undefined) {
                return yield* new SnapshotNotFound({
                  table: showIdentifier(identifierOf(params.table)),
                  detail: `snapshot ${cursor!.before}, where the cursor's page ends, has expired since the previous page: list again without the cursor`
                })
              }
              const { page, older } = paged
              return {
                // An instant as every other answer writes one (toISOString stops at milliseconds).
                rows: page.map((s) => ({ ...s, summary: withoutPaths(s.summary), time: formatIsoMicros(s.timestampMs * 1000) })),
                scanned: [],
                rowsReturned: page.length,
                elapsedMs: 0,
                nextCursor: older === null || pinned === undefined
                  ? null
                  : encodeSnapshotCursor({ table: params.table, pinned, before: older })
              }
            })
        })
      })

      const statsRoute = Effect.fnUntraced(function*({ params, query: q, request }: {
        readonly params: { readonly table: TableName }
        readonly query: { readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        return yield* reads.answerRead({
          route: `stats/${params.table}`,
          parquet: statsColumns,
          request,
          format,
          involved: [params.table],
          snapshot,
          run: (selector) =>
            engine.tableStats(params.table, selector === undefined ? {} : { snapshot: selector }).pipe(Effect.map((s) => ({
              rows: [s],
              scanned: [],
              rowsReturned: 1,
              elapsedMs: 0
            })))
        })
      })

      return handlers
        .handle("symbols", (r) => guard(symbolsRoute(r)))
        .handle("instruments", (r) => guard(instrumentsRoute(r)))
        .handle("snapshots", (r) => guard(snapshotsRoute(r)))
        .handle("stats", (r) => guard(statsRoute(r)))
    }))

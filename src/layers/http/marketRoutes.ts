/** The "market" group: trades and quotes (tradesAndQuotes.ts), bars, daily summaries, trades with their quotes. */
import { Effect } from "effect"
import type { HttpServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../../domain/api/Api.ts"
import { negotiate, parseDate, parseIntParam, parseSnapshot, parseSymbols, required } from "../../domain/api/params.ts"
import { checkRange as ordered } from "../../domain/query/validate.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import { type Answer, QueryEngine } from "../../services/QueryEngine.ts"
import { defaultPageRows, defaultPageSettings, type HandlerOptions } from "./handlerContext.ts"
import { barColumns, quoteBarColumns, summaryColumns, tradeWithQuoteColumns } from "./parquetColumns.ts"
import { guard, orBad } from "./problems.ts"
import type { Reads } from "./reads.ts"
import { makeRows } from "./tradesAndQuotes.ts"


export const marketGroup = (options: HandlerOptions, reads: Reads) =>
  HttpApiBuilder.group(Api, "market", (handlers) =>
    Effect.gen(function*() {
      const engine = yield* QueryEngine
      const rows = yield* makeRows(options, reads)

      const bars = (quotes: boolean) =>
        Effect.fnUntraced(function*({ query: q, request }: {
          readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly interval?: "1s" | "5s" | "1m" | "5m" | "15m" | "30m" | "1h" | "1d" | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
          readonly request: HttpServerRequest.HttpServerRequest
        }) {
          const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
          const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
          const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
          const { from, to } = yield* reads.range(q)
          const interval = q.interval ?? "1m"
          return yield* reads.answerRead({
            route: quotes ? "quoteBars" : "bars",
            parquet: quotes ? quoteBarColumns : barColumns,
            request,
            format,
            involved: [quotes ? "quotes" : "trades"],
            snapshot,
            run: (selector) => {
              // Bars are built whole (one aggregation, then encoded): past the cap the request is refused, not cut.
              const req = { from, to, symbols, interval, maxBars: options.maxBars, ...(selector === undefined ? {} : { snapshot: selector }) }
              return (quotes ? engine.quoteBars(req) : engine.bars(req)) as Effect.Effect<Answer<unknown>, unknown>
            }
          })
        })

      const summary = Effect.fnUntraced(function*({ query: q, request }: {
        readonly query: { readonly symbols?: string | undefined; readonly from_day?: string | undefined; readonly to_day?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        const fromDay = yield* orBad(required("from_day", q.from_day))
        const toDay = q.to_day ?? fromDay
        const a = yield* orBad(parseDate("from_day", fromDay))
        const b = yield* orBad(parseDate("to_day", toDay))
        // An inverted range is refused before anything is planned, as on the [from, to) routes.
        yield* Effect.fromResult(ordered(a, b))
        // Days are inclusive: to_day's whole day counts, as [from, to) counts on the other routes.
        yield* reads.checkRange(a, b + MICROS_PER_DAY, "to_day")
        return yield* reads.answerRead({
          route: "summary",
          parquet: summaryColumns,
          // Trading days are the exchanges' local dates: the same snapshot under other zones is another answer.
          settings: engine.tradingDayZones,
          request,
          format,
          involved: ["trades"],
          snapshot,
          run: (selector) => engine.dailySummary({ fromDay, toDay, symbols, ...(selector === undefined ? {} : { snapshot: selector }) })
        })
      })

      const tradesWithQuotes = Effect.fnUntraced(function*({ query: q, request }: {
        readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly limit?: string | undefined; readonly cursor?: string | undefined; readonly lookback_us?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        const { from, to } = yield* reads.range(q)
        const limit = yield* orBad(parseIntParam("limit", q.limit, { min: 1, max: options.maxPageRows, fallback: defaultPageRows(options) }))
        const lookback = yield* orBad(parseIntParam("lookback_us", q.lookback_us, { min: 0, max: 31 * MICROS_PER_DAY }))
        return yield* reads.answerRead({
          route: "tradesWithQuotes",
          parquet: tradeWithQuoteColumns,
          settings: defaultPageSettings(options, q.limit),
          request,
          format,
          involved: ["trades", "quotes"],
          snapshot,
          cursor: q.cursor,
          run: (_, snapshotIds) =>
            engine.tradesWithQuotes({
              from,
              to,
              symbols,
              limit: limit!,
              ...(lookback === undefined ? {} : { quoteLookbackMicros: lookback }),
              // A cursor pins both tables as its first page read them; else each by the id the answer names.
              ...(q.cursor !== undefined && q.cursor !== "" ? { cursor: q.cursor } : { snapshotIds })
            })
        })
      })

      return handlers
        .handle("trades", (r) => guard(rows("trades")(r)))
        .handle("quotes", (r) => guard(rows("quotes")(r)))
        .handle("bars", (r) => guard(bars(false)(r)))
        .handle("quoteBars", (r) => guard(bars(true)(r)))
        .handle("summary", (r) => guard(summary(r)))
        .handle("tradesWithQuotes", (r) => guard(tradesWithQuotes(r)))
    }))

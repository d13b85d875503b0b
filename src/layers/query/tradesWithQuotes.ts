/**
 * Trades with their prevailing quotes (an as-of join by instrument), paged by cursor: the
 * request's checks, the SQL and the page made of its rows.
 */
import { Effect } from "effect"
import { encodeCursor, type PageCursor, queryDigest, type QueryParts, TRADES_WITH_QUOTES } from "../../domain/query/cursor.ts"
import { InvalidArgument, InvalidCursor, invalid } from "../../domain/query/errors.ts"
import { divideText, formatFixed, parseFixed, rescale } from "../../domain/query/exact.ts"
import { checkLimit, checkRange, checkSymbols } from "../../domain/query/validate.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import type { QueryEngine, TradeClassification, TradeWithQuote } from "../../services/QueryEngine.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import type { Row } from "../duckdb/results.ts"
import { num } from "./answers.ts"
import { afterCursor, lineageOf, readCursor } from "./paging.ts"
import { filteredFiles, type Params, TWO_SIDED } from "./sql.ts"

/**
 * The request checked, with the cursor it continues from (`after`, with the quotes' snapshot it
 * pinned) and the instant its page starts at.
 */
export const checkTradesWithQuotes = (request: Parameters<QueryEngine["Service"]["tradesWithQuotes"]>[0]) =>
  Effect.gen(function*() {
    const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
    const range = yield* Effect.fromResult(checkRange(request.from, request.to))
    const limit = yield* Effect.fromResult(checkLimit(request.limit))
    const lookback = request.quoteLookbackMicros ?? MICROS_PER_DAY
    if (!Number.isSafeInteger(lookback) || lookback < 0 || lookback > 31 * MICROS_PER_DAY) {
      return yield* invalid(new InvalidArgument({ name: "quoteLookbackMicros", detail: `${lookback}; 0 to 31 days in microseconds` }))
    }
    // A cursor pins both tables as the first page read them (the request's snapshot is not consulted).
    const parts: QueryParts = [["from", String(range.from)], ["to", String(range.to)], ["symbols", symbols.join(",")], ["lookback_us", String(lookback)]]
    const after = request.cursor === undefined ? undefined : yield* readCursor(request.cursor, TRADES_WITH_QUOTES, parts)
    const quotesAt = after?.joined?.["quotes"]
    if (after !== undefined && quotesAt === undefined) return yield* invalid(new InvalidCursor({ detail: "damaged cursor" }))
    const from = after === undefined ? range.from : Math.max(range.from, after.exchangeTimestamp)
    return { symbols, range, limit, lookback, parts, after, quotesAt, from }
  })

/**
 * The page's trades, from `from` (after the cursor's row) to range.to, each joined to its
 * prevailing quote among those from `range.from − lookback`, up to limit + 1 rows in page order.
 */
export const tradesWithQuotesSql = (
  params: Params,
  tp: ScanPlan,
  qp: ScanPlan,
  read: {
    readonly range: { readonly from: number; readonly to: number }
    readonly from: number
    readonly lookback: number
    readonly symbols: ReadonlyArray<string>
    readonly after: PageCursor | undefined
    readonly limit: number
  }
) => {
  const { range, from, lookback, symbols, after, limit } = read
  const trades = `SELECT symbol, exchange, exchange_timestamp, source_sequence, coalesce(source_sequence, -1) AS seq, message_id, price, quantity, side,
            kafka_topic, kafka_partition, kafka_offset
          FROM ${filteredFiles(params, tp, from, range.to, symbols)}${afterCursor(params, after)}`
  // The prevailing quote at an instant is the last one by (time, sequence, message_id): keep one per (symbol, exchange, time).
  // It is shown whatever it holds; one with a zero side (pre-open) has no mid, spread or side (ADR-40).
  // Quotes tied on that whole key (an id a source reused) go by bid, then ask, then sizes: the same one on every run.
  // Joined by instrument, (exchange, symbol): a symbol listed twice (BHP on the ASX and the NYSE) is two.
  const quotes = qp.files.length === 0
    ? `SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS exchange, NULL::TIMESTAMPTZ AS quote_ts, NULL::DECIMAL(18, 8) AS bid_price, NULL::DECIMAL(18, 8) AS bid_size,
              NULL::DECIMAL(18, 8) AS ask_price, NULL::DECIMAL(18, 8) AS ask_size LIMIT 0`
    : `SELECT symbol, exchange, exchange_timestamp AS quote_ts, bid_price, bid_size, ask_price, ask_size
              FROM ${filteredFiles(params, qp, range.from - lookback, range.to, symbols)}
              QUALIFY row_number() OVER (PARTITION BY symbol, exchange, exchange_timestamp ORDER BY coalesce(source_sequence, -1) DESC, message_id DESC, bid_price DESC, ask_price DESC, bid_size DESC, ask_size DESC) = 1`
  return `WITH t AS (${trades}), q AS (${quotes})
          SELECT t.symbol, t.exchange, epoch_us(t.exchange_timestamp)::DOUBLE AS ts, t.source_sequence, t.message_id, t.price::VARCHAR AS price,
            t.kafka_topic AS __topic, t.kafka_partition::INTEGER AS __part, t.kafka_offset AS __off,
            t.quantity::VARCHAR AS quantity, t.side, epoch_us(q.quote_ts)::DOUBLE AS quote_ts,
            q.bid_price::VARCHAR AS bid_price, q.bid_size::VARCHAR AS bid_size, q.ask_price::VARCHAR AS ask_price, q.ask_size::VARCHAR AS ask_size,
            CASE WHEN ${TWO_SIDED("q.")} THEN (q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8))::VARCHAR END AS twice_mid,
            CASE WHEN ${TWO_SIDED("q.")} THEN abs(t.price::DECIMAL(38, 8) * 2 - q.bid_price::DECIMAL(38, 8) - q.ask_price::DECIMAL(38, 8))::VARCHAR END AS effective_spread,
            CASE WHEN (${TWO_SIDED("q.")}) IS NOT TRUE THEN NULL
              WHEN t.price::DECIMAL(38, 8) * 2 > q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'BUY'
              WHEN t.price::DECIMAL(38, 8) * 2 < q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'SELL'
              ELSE 'MID' END AS classification
          FROM t ASOF LEFT JOIN q ON t.symbol = q.symbol AND t.exchange = q.exchange AND t.exchange_timestamp >= q.quote_ts
          ORDER BY t.exchange_timestamp, t.seq, t.message_id, t.kafka_topic, t.kafka_partition, t.kafka_offset LIMIT ${params.add(limit + 1)}`
}

/** The page of `tradesWithQuotesSql`'s rows, with the cursor of the next page when there is one. */
export const tradesWithQuotesPage = (raw: ReadonlyArray<Row>, limit: number, tp: ScanPlan, qp: ScanPlan, parts: QueryParts) => {
  // The row past the page only says there is more: the cursor is the page's last row.
  const last = raw.length > limit ? raw[limit - 1]! : undefined
  const next = last === undefined ? null : encodeCursor({
    table: TRADES_WITH_QUOTES,
    snapshotId: tp.snapshot?.["snapshot-id"] ?? null,
    exchangeTimestamp: num(last.ts),
    sequence: (last.source_sequence as bigint | null) ?? -1n,
    messageId: last.message_id as string,
    joined: { quotes: qp.snapshot?.["snapshot-id"] ?? null },
    ...lineageOf(last.__topic, last.__part, last.__off),
    query: queryDigest(parts)
  })
  const fixed = (v: unknown) => (v === null ? null : formatFixed(rescale(parseFixed(v as string))))
  return {
    next,
    rows: raw.slice(0, limit).map((r): TradeWithQuote => ({
      symbol: r.symbol as string,
      exchange: r.exchange as string,
      exchangeTimestamp: num(r.ts),
      sourceSequence: (r.source_sequence as bigint | null) ?? null,
      messageId: r.message_id as string,
      price: r.price as string,
      quantity: r.quantity as string,
      side: r.side as string,
      kafkaTopic: (r.__topic as string | null) ?? null,
      kafkaPartition: (r.__part as number | null) ?? null,
      kafkaOffset: (r.__off as bigint | null) ?? null,
      quoteTimestamp: r.quote_ts === null ? null : num(r.quote_ts),
      bidPrice: (r.bid_price as string | null) ?? null,
      bidSize: (r.bid_size as string | null) ?? null,
      askPrice: (r.ask_price as string | null) ?? null,
      askSize: (r.ask_size as string | null) ?? null,
      mid: r.twice_mid === null ? null : divideText(r.twice_mid as string, "2"),
      effectiveSpread: fixed(r.effective_spread),
      classification: (r.classification as TradeClassification | null) ?? null
    }))
  }
}

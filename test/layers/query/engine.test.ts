import { assert, describe, layer } from "@effect/vitest"
import { BigDecimal, Clock, Effect, Layer } from "effect"
import { encodeCursor } from "../../../src/domain/query/cursor.ts"
import { formatIsoMicros } from "../../../src/domain/time.ts"
import { type Answer, type BarsRequest, type MarketRow, QueryEngine, type QueryError, type TradeWithQuote } from "../../../src/services/QueryEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { instrumentRows, tradeColumns } from "../../../src/domain/rows.ts"
import { identifierOf, tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { DAY, genTrades, HOUR, T0 } from "./data.ts"
import { Fixture, lakehouse, queryWarehouse } from "./fixture.ts"

const ids = (rows: ReadonlyArray<{ message_id: string }>) => rows.map((r) => r.message_id)

layer(queryWarehouse(), { timeout: 120_000, excludeTestServices: true })("QueryEngine", (it) => {
  describe("trades and quotes", () => {
    it.effect("a range matches the reference in order, ties included, and reports its scan", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const from = T0 + 5 * HOUR, to = T0 + DAY + 7 * HOUR
        const page = yield* q.trades({ from, to, symbols: ["BHP", "IBM"], limit: 100_000 })
        const want = Ref.selectRows(f.trades, { from, to, symbols: ["BHP", "IBM"] })
        assert.isAbove(want.length, 100)
        assert.deepStrictEqual(page.rows.map((r) => r.message_id), ids(want))
        assert.strictEqual(page.nextCursor, null)
        assert.strictEqual(page.rowsReturned, want.length)
        const s = page.scanned[0]!
        assert.strictEqual(s.snapshotId, f.lastTradeSnapshot)
        assert.isAtMost(s.filesPlanned, s.filesTotal)
        assert.isBelow(s.filesPlanned, s.filesTotal) // one of three days pruned
        assert.isAtLeast(page.elapsedMs, 0)
        // Planning is part of the answer's time: it is measured inside it.
        assert.isAbove(s.planningMs, 0)
        assert.isAtMost(s.planningMs, page.elapsedMs)
        // Values exact: price text, micros, bigint sequences, records for maps.
        const byId = new Map(f.trades.map((t) => [t.message_id, t]))
        for (const r of page.rows.slice(0, 200)) {
          const t = byId.get(r.message_id as string)!
          assert.strictEqual(r.price, Ref.text8(t.price))
          assert.strictEqual(r.quantity, Ref.text8(t.quantity))
          assert.strictEqual(r.exchange_timestamp, t.exchange_timestamp)
          assert.strictEqual(r.source_sequence, t.source_sequence)
          assert.deepStrictEqual(r.vendor_data, t.vendor_data)
          assert.deepStrictEqual(r.conditions, t.conditions)
        }
      }))

    it.effect("the times it reports are not negative when the wall clock is set back meanwhile (a clock set back an hour at every reading)", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const under = yield* Clock.Clock
        let steps = 0n
        const hourNanos = 3_600_000_000_000n
        const wallNanos = () => under.currentTimeNanosUnsafe() - hourNanos * ++steps
        const steppingBack: Clock.Clock = {
          ...under,
          currentTimeMillisUnsafe: () => Number(wallNanos() / 1_000_000n),
          currentTimeMillis: Effect.sync(() => Number(wallNanos() / 1_000_000n)),
          currentTimeNanosUnsafe: wallNanos,
          currentTimeNanos: Effect.sync(wallNanos),
          monotonicTimeNanosUnsafe: () => under.monotonicTimeNanosUnsafe(),
          monotonicTimeNanos: Effect.sync(() => under.monotonicTimeNanosUnsafe()),
          sleep: (d) => under.sleep(d)
        }
        const page = yield* Effect.provideService(q.trades({ from: T0, to: T0 + HOUR, symbols: ["BHP"], limit: 10 }), Clock.Clock, steppingBack)
        assert.isAtLeast(page.elapsedMs, 0)
        assert.isAtLeast(page.scanned[0]!.planningMs, 0)
        assert.isAtMost(page.scanned[0]!.planningMs, page.elapsedMs)
      }))

    it.effect("keyset pages concatenate to the whole range, pinned to the first page's snapshot", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const from = T0, to = T0 + 3 * DAY
        const want = Ref.selectRows(f.trades1, { from, to, symbols: ["CBA"] })
        // The cursor's key comes from the fields when they hold it, else from extra columns.
        for (const fields of [["message_id", "price"], ["exchange_timestamp", "price"], undefined]) {
          const got: Array<MarketRow> = []
          let cursor: string | undefined
          let pages = 0
          do {
            const page = yield* q.trades({
              from,
              to,
              symbols: ["CBA"],
              limit: 37,
              ...(fields === undefined ? {} : { fields }),
              ...(cursor === undefined ? { snapshot: { _tag: "ById" as const, snapshotId: f.firstTradeSnapshot } } : { cursor })
            })
            got.push(...page.rows)
            assert.strictEqual(page.scanned[0]!.snapshotId, f.firstTradeSnapshot)
            cursor = page.nextCursor ?? undefined
            pages++
          } while (cursor !== undefined)
          assert.deepStrictEqual(got.map((r) => r.price), want.map((t) => Ref.text8(t.price)))
          if (fields === undefined || fields.includes("message_id")) assert.deepStrictEqual(got.map((r) => r.message_id), ids(want))
          if (fields === undefined || fields.includes("exchange_timestamp")) {
            assert.deepStrictEqual(got.map((r) => r.exchange_timestamp), want.map((t) => t.exchange_timestamp))
          }
          if (fields !== undefined) assert.deepStrictEqual(Object.keys(got[0]!).sort(), [...fields].sort())
          assert.strictEqual(pages, Math.ceil(want.length / 37) + (want.length % 37 === 0 ? 1 : 0))
        }
      }))

    it.effect("price and size filters apply before the limit", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const min = BigDecimal.fromStringUnsafe("40"), max = BigDecimal.fromStringUnsafe("70.5")
        const qty = BigDecimal.fromStringUnsafe("300")
        const page = yield* q.trades({
          from: T0,
          to: T0 + 3 * DAY,
          limit: 50,
          filters: [{ column: "price", min: "40", max: "70.5" }, { column: "quantity", min: "300" }]
        })
        const want = Ref.selectRows(f.trades, {
          from: T0,
          to: T0 + 3 * DAY,
          where: (t) => !BigDecimal.isLessThan(t.price, min) && !BigDecimal.isGreaterThan(t.price, max) && !BigDecimal.isLessThan(t.quantity, qty)
        }).slice(0, 50)
        assert.deepStrictEqual(page.rows.map((r) => r.message_id), ids(want))
        assert.isNotNull(page.nextCursor)
      }))

    it.effect("from and a filter's min and max are inclusive, to is exclusive, for pages and bars alike", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const t = f.trades.find((r) => r.exchange_timestamp > T0 + HOUR && r.symbol === "BHP")!
        const at = t.exchange_timestamp
        const symbols = [t.symbol]
        const ending = yield* q.trades({ from: at - HOUR, to: at, symbols, limit: 100_000 })
        assert.notInclude(ending.rows.map((r) => r.message_id), t.message_id)
        assert.deepStrictEqual(ending.rows.map((r) => r.message_id), ids(Ref.selectRows(f.trades, { from: at - HOUR, to: at, symbols })))
        const starting = yield* q.trades({ from: at, to: at + 1, symbols, limit: 100_000 })
        assert.include(starting.rows.map((r) => r.message_id), t.message_id)
        const bars = yield* q.bars({ from: at - HOUR, to: at, interval: "1d", symbols })
        assert.deepStrictEqual(bars.rows, Ref.bars(f.trades, { from: at - HOUR, to: at, size: DAY, symbols }))
        // A filter whose min and max are the trade's own price keeps it (and every trade at that price).
        const price = Ref.text8(t.price)
        const priced = yield* q.trades({ from: T0 - DAY, to: T0 + 4 * DAY, symbols, limit: 100_000, filters: [{ column: "price", min: price, max: price }] })
        assert.include(priced.rows.map((r) => r.message_id), t.message_id)
        assert.deepStrictEqual(
          priced.rows.map((r) => r.message_id),
          ids(Ref.selectRows(f.trades, { from: T0 - DAY, to: T0 + 4 * DAY, symbols, where: (r) => BigDecimal.Equivalence(r.price, t.price) }))
        )
      }))

    it.effect("quotes read the same way", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const page = yield* q.quotes({ from: T0 + DAY, to: T0 + 2 * DAY, symbols: ["MSFT"], limit: 100_000, filters: [{ column: "ask_price", min: "0.00000001" }] })
        const want = Ref.selectRows(f.quotes, { from: T0 + DAY, to: T0 + 2 * DAY, symbols: ["MSFT"], where: (r) => BigDecimal.isPositive(r.ask_price) })
        assert.deepStrictEqual(page.rows.map((r) => r.message_id), ids(want))
        assert.strictEqual(page.rows[0]!.bid_price, Ref.text8(want[0]!.bid_price))
      }))

    it.effect("an unknown symbol and an empty range answer nothing; an as-of read sees no later snapshot", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        assert.strictEqual((yield* q.trades({ from: T0, to: T0 + DAY, symbols: ["NOPE"] })).rows.length, 0)
        assert.strictEqual((yield* q.trades({ from: T0 + HOUR, to: T0 + HOUR })).rows.length, 0)
        assert.strictEqual((yield* q.bars({ from: T0, to: T0 + DAY, symbols: ["NOPE"], interval: "1m" })).rows.length, 0)
        const asOf = yield* q.trades({ from: T0, to: T0 + 3 * DAY, limit: 100_000, snapshot: { _tag: "AsOf", timestampMs: f.firstTradeSnapshotMs } })
        assert.strictEqual(asOf.scanned[0]!.snapshotId, f.firstTradeSnapshot)
        assert.deepStrictEqual(asOf.rows.map((r) => r.message_id), ids(Ref.selectRows(f.trades1, { from: T0, to: T0 + 3 * DAY })))
      }))

    it.effect("bad input fails with typed errors and clear messages", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const inverted = yield* Effect.flip(q.trades({ from: T0 + DAY, to: T0 }))
        assert.strictEqual(inverted._tag, "InvalidQuery")
        assert.strictEqual(inverted._tag === "InvalidQuery" && inverted.reason._tag, "InvertedRange")
        assert.include(inverted.message, formatIsoMicros(T0 + DAY))
        const limit = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, limit: 0 }))
        assert.strictEqual(limit._tag === "InvalidQuery" && limit.reason._tag, "LimitOutOfRange")
        assert.include(limit.message, "limit must be an integer from 1 to 100000")
        const tooMany = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, limit: 100_001 }))
        assert.strictEqual(tooMany._tag === "InvalidQuery" && tooMany.reason._tag, "LimitOutOfRange")
        const snapshot = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, snapshot: { _tag: "ById", snapshotId: 42n } }))
        assert.strictEqual(snapshot._tag, "SnapshotNotFound")
        assert.include(snapshot.message, "42")
        // An id from an hour ago (a K2-Snapshot-Ids kept for a regulator) is gone by expiry: the
        // error says that may be why, and how long tables keep snapshots, not only "no such snapshot".
        assert.include(snapshot.message, "expired")
        assert.include(snapshot.message, "history.expire.max-snapshot-age-ms")
        const joined = yield* Effect.flip(q.tradesWithQuotes({ from: T0, to: T0 + DAY, snapshot: { _tag: "ById", snapshotId: 42n } }))
        assert.strictEqual(joined._tag, "SnapshotNotFound")
        assert.include(joined.message, "expired")
        const before = yield* Effect.flip(q.bars({ from: T0, to: T0 + DAY, interval: "1m", snapshot: { _tag: "AsOf", timestampMs: 1000 } }))
        assert.strictEqual(before._tag, "SnapshotNotFound")
        // A cursor whose snapshot is gone (expired between pages) says so, not only "no such snapshot".
        const gone = encodeCursor({ table: "trades", snapshotId: 42n, exchangeTimestamp: T0, sequence: 0n, messageId: "m" })
        const expired = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, cursor: gone }))
        assert.strictEqual(expired._tag, "SnapshotNotFound")
        assert.include(expired.message, "the cursor")
        const goneJoined = encodeCursor({ table: "trades_with_quotes", snapshotId: 42n, exchangeTimestamp: T0, sequence: 0n, messageId: "m", joined: { quotes: null } })
        const expiredJoined = yield* Effect.flip(q.tradesWithQuotes({ from: T0, to: T0 + DAY, cursor: goneJoined }))
        assert.strictEqual(expiredJoined._tag, "SnapshotNotFound")
        assert.include(expiredJoined.message, "the cursor")
        const cursor = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, cursor: "garbage!" }))
        assert.strictEqual(cursor._tag === "InvalidQuery" && cursor.reason._tag, "InvalidCursor")
        // A cursor whose sequence is past a long is damaged (it failed in DuckDB's cast before).
        const forged = Buffer.from(JSON.stringify([1, "trades", null, T0, "99999999999999999999", "m"])).toString("base64url")
        const damaged = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, cursor: forged }))
        assert.strictEqual(damaged._tag === "InvalidQuery" && damaged.reason._tag, "InvalidCursor")
        // maxBars is checked before any I/O: a negative or fractional cap is not a TooManyRows after the query.
        for (const maxBars of [-1, 1.5, Number.NaN]) {
          for (const read of [q.bars, q.quoteBars] as ReadonlyArray<(r: BarsRequest) => Effect.Effect<Answer<unknown>, QueryError>>) {
            const capped = yield* Effect.flip(read({ from: T0, to: T0 + DAY, interval: "1h", maxBars }))
            assert.strictEqual(capped._tag === "InvalidQuery" && capped.reason._tag, "LimitOutOfRange", String(maxBars))
            assert.include(capped.message, "maxBars")
          }
        }
        const field = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, fields: ["price", "nope"] }))
        assert.include(field.message, "unknown nope")
        const interval = yield* Effect.flip(q.bars({ from: T0, to: T0 + DAY, interval: "7m" as "1m" }))
        assert.include(interval.message, "one of 1s, 5s, 1m")
        const symbol = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, symbols: ["bhp'; DROP TABLE x"] }))
        assert.strictEqual(symbol._tag === "InvalidQuery" && symbol.reason._tag, "InvalidArgument")
        const decimal = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, filters: [{ column: "price", min: "1e3" }] }))
        assert.include(decimal.message, "price min")
        const column = yield* Effect.flip(q.trades({ from: T0, to: T0 + DAY, filters: [{ column: "symbol", min: "1" }] }))
        assert.include(column.message, "can be filtered on price, quantity")
        const day = yield* Effect.flip(q.dailySummary({ fromDay: "2024-01-05", toDay: "2024-01-02" }))
        assert.strictEqual(day._tag === "InvalidQuery" && day.reason._tag, "InvertedRange")
        // Named by the dates given, not by the instants they start at.
        assert.strictEqual(day.message, "inverted range: from 2024-01-05 is after to 2024-01-02")
      }))
  })

  describe("bars and summaries", () => {
    for (const interval of ["1s", "1m", "15m", "1h", "1d"] as const) {
      it.effect(`${interval} bars of many symbols match the reference`, () =>
        Effect.gen(function*() {
          const q = yield* QueryEngine
          const f = yield* Fixture
          const size = { "1s": 1e6, "1m": 60e6, "15m": 900e6, "1h": 3600e6, "1d": 86400e6 }[interval]
          const from = T0 + 2 * HOUR + 123_457, to = T0 + 2 * DAY + 5 * HOUR
          const got = yield* q.bars({ from, to, interval, symbols: ["BHP", "CBA", "MSFT"] })
          const want = Ref.bars(f.trades, { from, to, size, symbols: ["BHP", "CBA", "MSFT"] })
          assert.deepStrictEqual(got.rows, want)
          if (interval === "1s") assert.isTrue(want.some((b) => b.tradeCount === 1), "bars with one trade")
          if (interval === "1h") assert.isTrue(want.some((b) => b.tradeCount > 1))
        }))
    }

    it.effect("all symbols' 1d bars over the whole table", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const got = yield* q.bars({ from: T0 - DAY, to: T0 + 4 * DAY, interval: "1d" })
        assert.deepStrictEqual(got.rows, Ref.bars(f.trades, { from: T0 - DAY, to: T0 + 4 * DAY, size: DAY }))
      }))

    it.effect("bars and quote bars up to maxBars answer whole; one more bar is refused with the count", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const request = { from: T0, to: T0 + DAY, interval: "1m" as const }
        const reads: ReadonlyArray<(r: BarsRequest) => Effect.Effect<Answer<unknown>, QueryError>> = [q.bars, q.quoteBars]
        for (const read of reads) {
          const all = yield* read(request)
          const n = all.rows.length
          assert.isAbove(n, 100)
          assert.deepStrictEqual((yield* read({ ...request, maxBars: n })).rows, all.rows)
          const refused = yield* Effect.flip(read({ ...request, maxBars: n - 1 }))
          assert.strictEqual(refused._tag === "InvalidQuery" && refused.reason._tag, "TooManyRows")
          assert.include(refused.message, `${n} bars`)
          assert.include(refused.message, `${n - 1}`)
        }
      }))

    it.effect("daily summaries group by the exchange's local trading day", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const got = yield* q.dailySummary({ fromDay: "2023-12-31", toDay: "2024-01-06" })
        const want = Ref.dailySummary(f.trades, { fromDay: "2023-12-31", toDay: "2024-01-06" })
        assert.deepStrictEqual(got.rows, want)
        // Sydney is UTC+11 in January: BHP's trading days run 13:00Z to 13:00Z, so trades on the
        // first UTC day fall on two local days, and 2024-01-05 (local) holds trades of UTC 2024-01-04.
        assert.isTrue(want.some((s) => s.symbol === "BHP" && s.tradingDay === "2024-01-05"))
        assert.isTrue(want.some((s) => s.symbol === "IBM" && s.tradingDay === "2024-01-01"))
        const one = yield* q.dailySummary({ fromDay: "2024-01-03", toDay: "2024-01-03", symbols: ["BHP", "IBM"] })
        assert.deepStrictEqual(one.rows, Ref.dailySummary(f.trades, { fromDay: "2024-01-03", toDay: "2024-01-03", symbols: ["BHP", "IBM"] }))
      }))

    it.effect("a UTC hour range inside one local day, and a local-midnight range inside one UTC day", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        // 2024-01-02 22:00Z..2024-01-03 02:00Z crosses UTC midnight; for NYSE (UTC-5) it is all 2024-01-02 local.
        const a = { from: T0 + 22 * HOUR, to: T0 + DAY + 2 * HOUR }
        // 2024-01-02 12:00Z..15:00Z stays in one UTC day; in Sydney (UTC+11) it crosses local midnight (13:00Z).
        const b = { from: T0 + 12 * HOUR, to: T0 + 15 * HOUR }
        for (const range of [a, b]) {
          for (const interval of ["1h", "1d"] as const) {
            const got = yield* q.bars({ ...range, interval })
            assert.deepStrictEqual(got.rows, Ref.bars(f.trades, { ...range, size: interval === "1h" ? HOUR : DAY }))
          }
          const page = yield* q.trades({ ...range, limit: 100_000 })
          assert.deepStrictEqual(page.rows.map((r) => r.message_id), ids(Ref.selectRows(f.trades, range)))
        }
      }))
  })

  describe("quote analytics", () => {
    it.effect("spread and mid bars match the reference", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const range = { from: T0 + HOUR, to: T0 + 2 * DAY }
        for (const [interval, size] of [["5m", 300e6], ["1h", HOUR]] as const) {
          const got = yield* q.quoteBars({ ...range, interval })
          assert.deepStrictEqual(got.rows, Ref.quoteBars(f.quotes, { ...range, size }))
        }
      }))

    it.effect("each trade gets the prevailing quote, its effective spread and side", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const range = { from: T0 + DAY, to: T0 + DAY + 6 * HOUR }
        const project = (rows: ReadonlyArray<TradeWithQuote>) =>
          rows.map((r) => ({ messageId: r.messageId, quoteTimestamp: r.quoteTimestamp, mid: r.mid, effectiveSpread: r.effectiveSpread, classification: r.classification as string | null, bidPrice: r.bidPrice }))
        const got = yield* q.tradesWithQuotes({ ...range, limit: 100_000, quoteLookbackMicros: 2 * HOUR })
        const want = Ref.tradesWithQuotes(f.trades, f.quotes, { ...range, lookback: 2 * HOUR, limit: 100_000 })
        assert.deepStrictEqual(project(got.rows), want)
        // Each row names the Kafka record its trade was read from.
        assert.isString(got.rows[0]?.kafkaTopic)
        const byId = new Map(f.trades.map((t) => [t.message_id, t]))
        assert.deepStrictEqual(
          got.rows.map((r) => [r.kafkaTopic, r.kafkaPartition, r.kafkaOffset]),
          got.rows.map((r) => { const t = byId.get(r.messageId)!; return [t.kafka_topic, t.kafka_partition, t.kafka_offset] })
        )
        assert.isTrue(want.some((w) => w.classification === "SELL") && want.some((w) => w.classification === "BUY"))
        // No lookback: the first trades of each symbol have no prevailing quote.
        let nulls = 0
        for (let k = 0; k < 6; k++) {
          const start = { from: T0 + k * 7 * HOUR, to: T0 + k * 7 * HOUR + HOUR }
          const bare = yield* q.tradesWithQuotes({ ...start, limit: 20, quoteLookbackMicros: 0 })
          const bareWant = Ref.tradesWithQuotes(f.trades, f.quotes, { ...start, lookback: 0, limit: 20 })
          assert.deepStrictEqual(project(bare.rows), bareWant)
          nulls += bareWant.filter((w) => w.quoteTimestamp === null).length
        }
        assert.isAbove(nulls, 0)
        assert.strictEqual(got.scanned.length, 2)
      }))
  })

  describe("reference data and history", () => {
    it.effect("symbols with counts and first/last per table", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const got = yield* q.symbols()
        assert.deepStrictEqual(got.rows.map((r) => r.symbol), ["BHP", "CBA", "IBM", "MSFT"])
        for (const r of got.rows) {
          const ts = f.trades.filter((t) => t.symbol === r.symbol).map((t) => t.exchange_timestamp)
          assert.deepStrictEqual(r.trades, { count: ts.length, first: Math.min(...ts), last: Math.max(...ts) })
          assert.strictEqual(r.quotes?.count, f.quotes.filter((x) => x.symbol === r.symbol).length)
        }
      }))

    it.effect("table statistics and snapshot history", () =>
      Effect.gen(function*() {
        const q = yield* QueryEngine
        const f = yield* Fixture
        const stats = yield* q.tableStats("trades")
        assert.strictEqual(stats.records, f.trades.length)
        assert.strictEqual(stats.firstTimestamp, Math.min(...f.trades.map((t) => t.exchange_timestamp)))
        assert.strictEqual(stats.lastTimestamp, Math.max(...f.trades.map((t) => t.exchange_timestamp)))
        assert.strictEqual(stats.days, 3)
        const old = yield* q.tableStats("trades", { snapshot: { _tag: "ById", snapshotId: f.firstTradeSnapshot } })
        assert.strictEqual(old.records, f.trades1.length)
        const history = yield* q.snapshots("trades")
        assert.deepStrictEqual(history.map((s) => s.snapshotId), [f.firstTradeSnapshot, f.lastTradeSnapshot])
        assert.deepStrictEqual(history.map((s) => [s.operation, s.current]), [["append", false], ["append", true]])
        assert.strictEqual(history[1]!.summary["total-records"], String(f.trades.length))
        // Pinned to the first snapshot: the later commit is left out, and the pinned one is current.
        const pinned = yield* q.snapshots("trades", { upTo: f.firstTradeSnapshot })
        assert.deepStrictEqual(pinned.map((s) => [s.snapshotId, s.current]), [[f.firstTradeSnapshot, true]])
      }))
  })
})

layer(QueryLayer.layer().pipe(Layer.provideMerge(lakehouse())), { timeout: 120_000, excludeTestServices: true })("QueryEngine on tables of its own", (it) => {
  it.effect("each (exchange, symbol) reads as its latest version by ingestion: a symbol listed on two exchanges is two", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.instruments)
      const rows = instrumentRows()
      const base = { symbol: "BHP", company_id: null, isin: null, asset_class: "equities" as const, listing_date: null, delisting_date: null, kafka_topic: "k2.test", kafka_partition: 0 }
      rows.push({ ...base, exchange: "ASX", currency: "AUD", name: "BHP old", ingestion_timestamp: T0, kafka_offset: 1n })
      rows.push({ ...base, exchange: "NYSE", currency: "USD", name: "BHP ADR", ingestion_timestamp: T0 + HOUR, kafka_offset: 2n })
      rows.push({ ...base, exchange: "ASX", currency: "AUD", name: "BHP new", ingestion_timestamp: T0 + 2 * HOUR, kafka_offset: 3n })
      yield* sink.append(identifierOf("instruments"), rows.columns())
      const got = yield* q.instruments({ symbols: ["BHP"] })
      assert.deepStrictEqual(got.rows.map((r) => [r["symbol"], r["exchange"], r["name"]]), [["BHP", "ASX", "BHP new"], ["BHP", "NYSE", "BHP ADR"]])
    }))

  it.effect("table statistics: first and last trade over every file, whichever file is planned last", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      const trades = genTrades(60, { seed: 5, days: 3 })
      const day = (n: number) => trades.filter((t) => Math.floor((t.exchange_timestamp - T0) / DAY) === n)
      // The latest day committed between the others: it is neither the first nor the last file planned.
      for (const n of [0, 2, 1]) yield* sink.append(identifierOf("trades"), tradeColumns(day(n)))
      const stats = yield* q.tableStats("trades")
      const ts = trades.map((t) => t.exchange_timestamp)
      assert.strictEqual(stats.dataFiles, 3)
      assert.strictEqual(stats.firstTimestamp, Math.min(...ts))
      assert.strictEqual(stats.lastTimestamp, Math.max(...ts))
    }))

  it.effect("table statistics count UTC days after another engine partitioned the table by hour, not days and hours together", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      const catalog = yield* Catalog
      const table = identifierOf("trades")
      // The table of the test above: days 0..2 by day. Another engine then partitions it by hour.
      const m = (yield* catalog.loadTable(table)).metadata
      const ts = m.schemas[0]!.fields.find((f) => f.name === "exchange_timestamp")!.id
      yield* catalog.commitTable(table, [{ type: "assert-table-uuid", uuid: m["table-uuid"] }], [
        { action: "add-spec", spec: { "spec-id": 1, fields: [{ "source-id": ts, "field-id": 1001, name: "exchange_timestamp_hour", transform: "hour" }] } },
        { action: "set-default-spec", "spec-id": 1 }
      ])
      // Days 1 and 3 by hour: day 3 is new.
      yield* sink.append(table, tradeColumns(genTrades(40, { seed: 6, days: 1, start: T0 + DAY, idPrefix: "h1" })))
      yield* sink.append(table, tradeColumns(genTrades(40, { seed: 7, days: 1, start: T0 + 3 * DAY, idPrefix: "h3" })))
      const stats = yield* q.tableStats("trades")
      assert.strictEqual(stats.days, 4)
    }))
})

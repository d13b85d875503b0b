/**
 * Reads over several tables when one has no snapshot (yet, or at the instant asked for): that
 * table reads as empty. Only an id no table has, an instant before every table's history, or a
 * single pinned table without a snapshot then is SnapshotNotFound. Memory catalog, local files.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { idsOf, loadInvolved, pinSnapshots } from "../../../src/layers/query/pinning.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type Page, QueryEngine, type TradeWithQuote } from "../../../src/services/QueryEngine.ts"
import { type SnapshotSelector, SnapshotNotFound, TableScanner } from "../../../src/services/TableScanner.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { QUOTES, TRADES } from "./fixture.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-fresh-"))
const warehouse = QueryLayer.layer().pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "memory" } }))
)

const trades1 = genTrades(400, { seed: 21, idPrefix: "a" })
const trades2 = genTrades(300, { seed: 22, idPrefix: "b" })
const quotes = genQuotes(600, { seed: 23 })
const range = { from: T0, to: T0 + 3 * DAY }

/** The failure of `effect`, which must fail with SnapshotNotFound. */
const notFound = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    assert.instanceOf(e, SnapshotNotFound, String(e))
    return e as SnapshotNotFound
  }))

layer(warehouse, { timeout: 120_000, excludeTestServices: true })("fresh and late tables", (it) => {
  it.effect("a fresh quotes table reads as empty beside trades: now, by a trades snapshot id, as of its time", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      const first = (yield* sink.append(TRADES, tradeColumns(trades1))).snapshot
      const selectors: ReadonlyArray<SnapshotSelector | undefined> = [
        undefined,
        { _tag: "ById", snapshotId: first["snapshot-id"] },
        { _tag: "AsOf", timestampMs: first["timestamp-ms"] }
      ]
      for (const snapshot of selectors) {
        const at = snapshot === undefined ? {} : { snapshot }
        const symbols = yield* q.symbols(at)
        assert.deepStrictEqual(symbols.rows.map((r) => [r.symbol, r.trades?.count, r.quotes]), [
          ...new Set(trades1.map((t) => t.symbol))
        ].sort().map((s) => [s, trades1.filter((t) => t.symbol === s).length, null]))
        assert.deepStrictEqual(symbols.scanned.map((s) => s.snapshotId), [first["snapshot-id"], null])
        const withQuotes = yield* q.tradesWithQuotes({ ...range, limit: 10_000, ...at })
        assert.strictEqual(withQuotes.rows.length, trades1.length)
        assert.isTrue(withQuotes.rows.every((r) => r.quoteTimestamp === null && r.mid === null && r.classification === null))
        assert.deepStrictEqual(withQuotes.scanned.map((s) => [s.snapshotId, s.filesPlanned]), [[first["snapshot-id"], 3], [null, 0]])
      }
      const stats = yield* q.tableStats("quotes")
      assert.deepStrictEqual([stats.snapshotId, stats.records, stats.dataFiles], [null, 0, 0])
    }))

  it.effect("pinning still fails: an unknown id, an instant before every table's history, one table with none then", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const scanner = yield* TableScanner
      const [firstAt] = (yield* q.snapshots("trades")).map((s) => s.timestampMs)
      const unknown = yield* notFound(q.symbols({ snapshot: { _tag: "ById", snapshotId: 12_345n } }))
      assert.include(unknown.message, "12345")
      const before = yield* notFound(q.tradesWithQuotes({ ...range, snapshot: { _tag: "AsOf", timestampMs: firstAt! - 1 } }))
      assert.include(before.message, "market_data.trades, market_data.quotes")
      yield* notFound(q.tableStats("quotes", { snapshot: { _tag: "AsOf", timestampMs: Date.now() } }))
      yield* notFound(scanner.planTogether([{ table: QUOTES }], { _tag: "AsOf", timestampMs: Date.now() }))
    }))

  it.effect("quotes written later: a trades snapshot from before reads no quotes, the current state reads them", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      const [first] = yield* q.snapshots("trades")
      yield* Effect.sleep("5 millis") // later commit times than the first trades snapshot
      const quoted = (yield* sink.append(QUOTES, quoteColumns(quotes))).snapshot
      yield* sink.append(TRADES, tradeColumns(trades2))

      const old = yield* q.tradesWithQuotes({ ...range, limit: 10_000, snapshot: { _tag: "ById", snapshotId: first!.snapshotId } })
      assert.strictEqual(old.rows.length, trades1.length)
      assert.isTrue(old.rows.every((r) => r.quoteTimestamp === null))
      assert.deepStrictEqual(old.scanned.map((s) => s.snapshotId), [first!.snapshotId, null])

      // By the quotes snapshot's id: quotes by id, trades as of that commit (the first snapshot).
      const byQuotes = yield* q.symbols({ snapshot: { _tag: "ById", snapshotId: quoted["snapshot-id"] } })
      assert.deepStrictEqual(byQuotes.scanned.map((s) => s.snapshotId), [first!.snapshotId, quoted["snapshot-id"]])
      assert.strictEqual(byQuotes.rows.reduce((n, r) => n + (r.trades?.count ?? 0), 0), trades1.length)
      assert.strictEqual(byQuotes.rows.reduce((n, r) => n + (r.quotes?.count ?? 0), 0), quotes.length)

      const now = yield* q.tradesWithQuotes({ ...range, limit: 10_000 })
      assert.strictEqual(now.rows.length, trades1.length + trades2.length)
      assert.isAbove(now.rows.filter((r) => r.classification !== null).length, 0)
    }))

  it.effect("an instant whose snapshot was expired is not taken for an empty table", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      const scanner = yield* TableScanner
      const q = yield* QueryEngine
      const [first] = yield* q.snapshots("trades")
      const at = { _tag: "AsOf", timestampMs: first!.timestampMs } as const
      const before = yield* scanner.planTogether([{ table: TRADES }, { table: QUOTES }], at)
      assert.deepStrictEqual(before.map((p) => p.snapshot?.["snapshot-id"] ?? null), [first!.snapshotId, null])
      yield* catalog.commitTable(TRADES, [], [{ action: "remove-snapshots", "snapshot-ids": [first!.snapshotId] }])
      // Trades' history now starts at `second`, whose parent is gone: what it held then is unknown.
      assert.strictEqual((yield* q.snapshots("trades"))[0]!.parentId, first!.snapshotId)
      const expired = yield* notFound(scanner.planTogether([{ table: TRADES }, { table: QUOTES }], at))
      assert.strictEqual(expired.table, "market_data.trades")
      // Said as it is: something was current then, and it was expired (not "none was current").
      assert.include(expired.message, "expired")
      assert.include((yield* notFound(scanner.plan(TRADES, { snapshot: at }))).message, "expired")
    }))
})

const pagedDir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-paged-"))
const paged = QueryLayer.layer().pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: pagedDir, catalog: { _tag: "memory" } }))
)

layer(paged, { timeout: 120_000, excludeTestServices: true })("trades with quotes, paged", (it) => {
  it.effect("pages read their first page's state of both tables: commits between pages change nothing", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      const first = (yield* sink.append(TRADES, tradeColumns(trades1))).snapshot["snapshot-id"]
      /** Every page from `start` on, following the cursors, with what each page scanned. */
      const rest = Effect.fnUntraced(function*(start: Page<TradeWithQuote>) {
        const rows = [...start.rows]
        const scanned: Array<ReadonlyArray<bigint | null>> = []
        let cursor = start.nextCursor
        while (cursor !== null) {
          const page = yield* q.tradesWithQuotes({ ...range, limit: 150, cursor })
          assert.isAtMost(page.rows.length, 150)
          rows.push(...page.rows)
          scanned.push(page.scanned.map((s) => s.snapshotId))
          cursor = page.nextCursor
        }
        return { rows, scanned }
      })

      // Quotes empty when the first page is read; the first quotes and more trades land after it.
      const whole = yield* q.tradesWithQuotes({ ...range, limit: 10_000 })
      const p1 = yield* q.tradesWithQuotes({ ...range, limit: 150 })
      assert.isString(p1.nextCursor)
      yield* sink.append(QUOTES, quoteColumns(quotes))
      yield* sink.append(TRADES, tradeColumns(trades2))
      const empty = yield* rest(p1)
      assert.deepStrictEqual(empty.rows, whole.rows)
      assert.strictEqual(empty.rows.length, trades1.length)
      assert.isTrue(empty.scanned.every((ids) => ids[0] === first && ids[1] === null))

      // Both tables written: more quotes between pages do not change the quotes later pages join.
      const now = yield* q.tradesWithQuotes({ ...range, limit: 10_000 })
      const n1 = yield* q.tradesWithQuotes({ ...range, limit: 150 })
      yield* sink.append(QUOTES, quoteColumns(genQuotes(600, { seed: 24 })))
      const full = yield* rest(n1)
      assert.deepStrictEqual(full.rows, now.rows)
      assert.strictEqual(full.rows.length, trades1.length + trades2.length)
      assert.isAbove(now.rows.filter((r) => r.classification !== null).length, 0)

      // A cursor of /trades does not page this read.
      const tradesPage = yield* q.trades({ ...range, limit: 5 })
      const wrong = yield* Effect.flip(q.tradesWithQuotes({ ...range, limit: 5, cursor: tradesPage.nextCursor! }))
      assert.strictEqual(wrong._tag === "InvalidQuery" && wrong.reason._tag, "InvalidCursor")
    }))
})

const noTablesDir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-no-tables-"))
const noTables = QueryLayer.layer().pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: noTablesDir, catalog: { _tag: "memory" } }))
)

layer(noTables, { timeout: 120_000, excludeTestServices: true })("tables not created yet", (it) => {
  it.effect("symbols pinned as the API pins them (npm run query symbols too) read as empty; a snapshot asked for is not found", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      const q = yield* QueryEngine
      const loaded = yield* loadInvolved(catalog, ["trades", "quotes"])
      assert.deepStrictEqual(loaded, [["trades", undefined], ["quotes", undefined]])
      const pinned = pinSnapshots(loaded, { _tag: "Latest" }, Date.now())
      assert.isTrue(Result.isSuccess(pinned))
      const answer = yield* q.symbols({ snapshotIds: idsOf(Result.getOrThrow(pinned)) })
      assert.deepStrictEqual(answer.rows, [])
      assert.deepStrictEqual(answer.scanned.map((s) => [s.snapshotId, s.filesPlanned]), [[null, 0], [null, 0]])
      // Unpinned, the engine plans the tables themselves: the API's and the CLI's reads pin first.
      assert.strictEqual((yield* Effect.flip(q.symbols())).message, "no such table: market_data.trades")
      const byId = pinSnapshots(loaded, { _tag: "ById", snapshotId: 42n }, Date.now())
      assert.isTrue(Result.isFailure(byId) && byId.failure instanceof SnapshotNotFound)
    }))
})

/**
 * Trades and quotes tables another engine evolved (ADR-2), shared by the query, HTTP and replay
 * tests: K2 appends, then the other engine renames price (bid_price) and exchange_timestamp, widens quantity (ask_price,
 * ask_size) from decimal(18, 8) to decimal(20, 8), drops vendor_data, and writes files of its own
 * under the new schema (Parquet field ids equal column ids, as every engine writes them). K2's
 * catalogs cannot add a schema: the catalog is wrapped to load each table with the new one current.
 * Read by name, the new files hold no `price`, `bid_price` or `exchange_timestamp`: every read of
 * them must go by id.
 */
import { BigDecimal, Context, Effect, Layer } from "effect"
import { defaultMergePolicy } from "../../../src/domain/iceberg/manifestPlan.ts"
import { dataDirectory, defaultSortOrder, defaultSpec } from "../../../src/domain/iceberg/metadata.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { commitChange } from "../../../src/layers/iceberg/commit.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { makeSnapshotFiles } from "../../../src/layers/iceberg/snapshotFiles.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { Catalog, type TableIdentifier } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const changed = (schema: Schema, rename: Readonly<Record<string, string>>, widen: ReadonlyArray<string>, drop: string): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.filter((f) => f.name !== drop).map((f) => ({
    ...f,
    name: rename[f.name] ?? f.name,
    ...(widen.includes(f.name) ? { type: "decimal(20, 8)" } : {})
  }))
})

/** The other engine's renames: a price, and the time every read filters on. */
const TRADES_RENAMED = { price: "trade_price", exchange_timestamp: "event_time" }
const QUOTES_RENAMED = { bid_price: "bid", exchange_timestamp: "event_time" }

/** The schemas the other engine left: current from the moment it changed them. */
const evolvedTrades = changed(tables.trades.schema, TRADES_RENAMED, ["price", "quantity"], "vendor_data")
const evolvedQuotes = changed(tables.quotes.schema, QUOTES_RENAMED, ["ask_price", "ask_size"], "vendor_data")

/** The day of the one trade whose quantity only decimal(20, 8) holds (past every other row's three days). */
export const BIG_DAY = T0 + 4 * DAY
/** 123,456,789,012.5: past decimal(18, 8)'s 10^10. */
export const BIG_QUANTITY = "123456789012.50000000"

export class Evolved extends Context.Service<Evolved, {
  /** Every row written, K2's then the other engine's (whose files hold no vendor_data; K2's reads show it null in all). */
  readonly trades: ReadonlyArray<TradeRow>
  readonly quotes: ReadonlyArray<QuoteRow>
}>()("test/Evolved") {}

/** `batch` (K2's column names) under the other engine's: renamed, the dropped column gone. */
const asTheirs = (batch: ColumnBatch, rename: Readonly<Record<string, string>>): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: Object.fromEntries(
    Object.entries(batch.columns).filter(([name]) => name !== "vendor_data").map(([name, values]) => [rename[name] ?? name, values])
  )
})

/** The other engine's append: files written with its schema's field ids, committed as an append. */
export const theirAppend = (table: TableIdentifier, schema: Schema, batch: ColumnBatch) =>
  Effect.gen(function*() {
    const m = (yield* (yield* Catalog).loadTable(table)).metadata
    const added = yield* writeDataFiles(batch, {
      schema,
      spec: defaultSpec(m),
      sortOrder: defaultSortOrder(m),
      directory: dataDirectory(m),
      targetFileSizeBytes: 1 << 30,
      fileNamePrefix: "other-engine"
    })
    const snapshots = yield* makeSnapshotFiles({ cacheEntries: 100 })
    yield* commitChange(snapshots, table, { operation: "append", added, removed: [], properties: {} }, { mergePolicy: defaultMergePolicy, maxAttempts: 3 })
  })

const fill = (schemas: Partial<Record<string, Schema>>) =>
  Layer.effect(Evolved)(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.ensureTable(tables.quotes)
    const ourTrades = genTrades(600, { seed: 41, idPrefix: "k2" })
    const ourQuotes = genQuotes(900, { seed: 42 })
    yield* sink.append(TRADES, tradeColumns(ourTrades))
    yield* sink.append(QUOTES, quoteColumns(ourQuotes))
    schemas[TRADES.name] = evolvedTrades
    schemas[QUOTES.name] = evolvedQuotes
    const big: TradeRow = { ...genTrades(1, { seed: 45, idPrefix: "big", start: BIG_DAY, days: 1 })[0]!, quantity: BigDecimal.fromStringUnsafe(BIG_QUANTITY) }
    const theirTrades = [...genTrades(400, { seed: 43, idPrefix: "other" }), big]
    const theirQuotes = genQuotes(600, { seed: 44 }).map((q) => ({ ...q, message_id: `other-${q.message_id}` }))
    // K2's rows hold decimal(18, 8): the big quantity goes into the batch as its unscaled value.
    const batch = asTheirs(tradeColumns([...theirTrades.slice(0, -1), { ...big, quantity: BigDecimal.fromBigInt(0n) }]), TRADES_RENAMED)
    const quantity = Array.from(batch.columns["quantity"]!)
    quantity[quantity.length - 1] = BigDecimal.scale(big.quantity, 8).value
    yield* theirAppend(TRADES, evolvedTrades, { rowCount: batch.rowCount, columns: { ...batch.columns, quantity } })
    yield* theirAppend(QUOTES, evolvedQuotes, asTheirs(quoteColumns(theirQuotes), QUOTES_RENAMED))
    return Evolved.of({
      trades: [...ourTrades, ...theirTrades],
      quotes: [...ourQuotes, ...theirQuotes]
    })
  }))

/** The evolved tables in `dir`, with the query and replay engines over them (and the lakehouse's services). */
export const evolvedWarehouse = (dir = warehouseDir()) => {
  const schemas: Partial<Record<string, Schema>> = {}
  return Layer.mergeAll(fill(schemas), QueryLayer.layer(), ReplayLayer.layer).pipe(Layer.provideMerge(evolvingLakehouse(dir, (name) => schemas[name])))
}

/**
 * One evolution at a time: trades and quotes K2 appended, then more another engine wrote under the
 * schema `evolve` makes of each table's (`theirs`: K2's columns as its files hold them), with the
 * query and replay engines over them.
 */
export const evolvedBy = (evolve: (schema: Schema) => Schema, theirs: (batch: ColumnBatch) => ColumnBatch) => {
  const schemas: Partial<Record<string, Schema>> = {}
  const trades = genTrades(50, { seed: 71, idPrefix: "p" })
  const quotes = genQuotes(50, { seed: 72 })
  const laterTrades = genTrades(30, { seed: 73, idPrefix: "l" })
  const laterQuotes = genQuotes(30, { seed: 74 }).map((q) => ({ ...q, message_id: `l-${q.message_id}` }))
  const filled = Layer.effectDiscard(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.ensureTable(tables.quotes)
    yield* sink.append(TRADES, tradeColumns(trades))
    yield* sink.append(QUOTES, quoteColumns(quotes))
    schemas[TRADES.name] = evolve(tables.trades.schema)
    schemas[QUOTES.name] = evolve(tables.quotes.schema)
    // The other engine's files, written under its schema: the snapshot read names it.
    yield* theirAppend(TRADES, schemas[TRADES.name]!, theirs(tradeColumns(laterTrades)))
    yield* theirAppend(QUOTES, schemas[QUOTES.name]!, theirs(quoteColumns(laterQuotes)))
  }))
  const warehouse = Layer.mergeAll(filled, QueryLayer.layer(), ReplayLayer.layer).pipe(
    Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name]))
  )
  return { trades, quotes, laterTrades, laterQuotes, warehouse }
}

/** Every row of a paged read, first page to last (at most 100 pages): `read` gets the cursor of the page to read. */
export const pagedToEnd = <Row, E, R>(
  read: (cursor: { readonly cursor?: string }) => Effect.Effect<{ readonly rows: ReadonlyArray<Row>; readonly nextCursor: string | null }, E, R>
) =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    let cursor: string | undefined
    for (let pages = 0; pages < 100; pages++) {
      const page = yield* read(cursor === undefined ? {} : { cursor })
      rows.push(...page.rows)
      if (page.nextCursor === null) break
      cursor = page.nextCursor
    }
    return rows
  })

/**
 * Table rows: a decoded trade, quote or instrument plus the lineage ingestion records, buffered
 * as the columns data files are written from (conventions in columnBatch.ts).
 *
 * Ingestion holds up to tens of thousands of rows between flushes, long enough for V8 to promote
 * whatever they hold to the old generation. The buffers keep them as columns, so a buffered trade
 * or quote costs its two id strings and no other heap object: instants and int64s sit unboxed in
 * number arrays and BigInt64Arrays (a row object, its heap numbers and its bigints were five more).
 * The row objects themselves live only while a batch is processed.
 */
import type { Column, ColumnBatch } from "./columnBatch.ts"
import { toUnscaled } from "./decimal.ts"
import type { Quote, Trade } from "./marketData.ts"
import type { Instrument } from "./reference.ts"
import { daysOfIsoDate, type EpochMicros } from "./time.ts"

interface Lineage {
  readonly ingestion_timestamp: EpochMicros
  readonly kafka_topic: string
  readonly kafka_partition: number
  readonly kafka_offset: bigint
}

export type TradeRow = Trade & Lineage
export type QuoteRow = Quote & Lineage
export type InstrumentRow = Instrument & Lineage

/** Rows of one table waiting for a flush. */
export interface RowBuffer<R> {
  readonly size: number
  /** The newest exchange_timestamp pushed (epoch micros); -1 when none, or the table has none. */
  readonly newest: number
  push(row: R): void
  columns(): ColumnBatch
}

/** An empty column's storage: allocated with the first value. */
const NO_ITEMS = new BigInt64Array(0)

/**
 * Growable int64 column with nulls: a value costs 8 bytes and no heap object until read back. It
 * holds nothing until its first value: a buffer is made for every partition at every flush, and
 * 1,024 values a column up front was ~40 KB a buffer, ~38 MB over 960 partitions (ADR-57).
 */
class Int64Column {
  private items = NO_ITEMS
  /** 1 where the value is null; allocated with the first null. */
  private nulls: Uint8Array | undefined
  private length = 0

  push(value: bigint | null): void {
    if (this.length === this.items.length) this.grow()
    if (value === null) {
      this.nulls ??= new Uint8Array(this.items.length)
      this.nulls[this.length] = 1
      this.items[this.length++] = 0n
    } else {
      this.items[this.length++] = value
    }
  }

  /** Without nulls, the values themselves (unboxed); otherwise bigints and nulls. */
  values(): BigInt64Array | Array<bigint | null> {
    if (this.nulls === undefined) return this.items.slice(0, this.length)
    const out = new Array<bigint | null>(this.length)
    for (let i = 0; i < this.length; i++) out[i] = this.nulls?.[i] === 1 ? null : this.items[i]!
    return out
  }

  private grow(): void {
    const items = new BigInt64Array(Math.max(64, this.items.length * 2))
    items.set(this.items)
    this.items = items
    if (this.nulls !== undefined) {
      const nulls = new Uint8Array(items.length)
      nulls.set(this.nulls)
      this.nulls = nulls
    }
  }
}

/** Decimals were checked to fit decimal(18, 8) when decoded. */
const unscaled = (d: Parameters<typeof toUnscaled>[0]) => toUnscaled(d)!

const micros = (values: ReadonlyArray<EpochMicros>) => {
  const out = new BigInt64Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!)
  return out
}

const NO_ENTRIES: ReadonlyArray<readonly [string, string]> = Object.freeze([])

/** Map entries; most rows have none, and share one empty list. */
const entriesOf = (m: Readonly<Record<string, string>>) => {
  for (const _ in m) return Object.entries(m)
  return NO_ENTRIES
}

/** The columns trades and quotes share; each subclass adds its own (plain pushes: this is per row). */
abstract class MarketRows<R extends TradeRow | QuoteRow> implements RowBuffer<R> {
  size = 0
  newest = -1
  private readonly message_id: Array<string> = []
  private readonly symbol: Array<string> = []
  private readonly exchange: Array<string> = []
  private readonly asset_class: Array<string> = []
  // Numbers only: V8 stores them unboxed (no heap number per instant).
  private readonly exchange_timestamp: Array<number> = []
  private readonly currency: Array<string> = []
  private readonly conditions: Array<ReadonlyArray<string>> = []
  private readonly source_sequence = new Int64Column()
  private readonly ingestion_timestamp: Array<number> = []
  private readonly kafka_topic: Array<string> = []
  private readonly kafka_partition: Array<number> = []
  private readonly kafka_offset = new Int64Column()
  private readonly vendor_data: Array<ReadonlyArray<readonly [string, string]>> = []

  protected abstract pushOwn(row: R): void
  protected abstract ownColumns(): Record<string, Column>

  push(row: R): void {
    this.size++
    if (row.exchange_timestamp > this.newest) this.newest = row.exchange_timestamp
    this.message_id.push(row.message_id)
    this.symbol.push(row.symbol)
    this.exchange.push(row.exchange)
    this.asset_class.push(row.asset_class)
    this.exchange_timestamp.push(row.exchange_timestamp)
    this.currency.push(row.currency)
    this.conditions.push(row.conditions)
    this.source_sequence.push(row.source_sequence)
    this.ingestion_timestamp.push(row.ingestion_timestamp)
    this.kafka_topic.push(row.kafka_topic)
    this.kafka_partition.push(row.kafka_partition)
    this.kafka_offset.push(row.kafka_offset)
    this.vendor_data.push(entriesOf(row.vendor_data))
    this.pushOwn(row)
  }

  columns(): ColumnBatch {
    return {
      rowCount: this.size,
      columns: {
        message_id: this.message_id,
        symbol: this.symbol,
        exchange: this.exchange,
        asset_class: this.asset_class,
        exchange_timestamp: micros(this.exchange_timestamp),
        currency: this.currency,
        conditions: this.conditions,
        source_sequence: this.source_sequence.values(),
        ingestion_timestamp: micros(this.ingestion_timestamp),
        kafka_topic: this.kafka_topic,
        kafka_partition: this.kafka_partition,
        kafka_offset: this.kafka_offset.values(),
        vendor_data: this.vendor_data,
        ...this.ownColumns()
      }
    }
  }
}

class TradeRows extends MarketRows<TradeRow> {
  private readonly trade_id: Array<string> = []
  private readonly side: Array<string> = []
  private readonly price = new Int64Column()
  private readonly quantity = new Int64Column()
  protected pushOwn(row: TradeRow): void {
    this.trade_id.push(row.trade_id)
    this.side.push(row.side)
    this.price.push(unscaled(row.price))
    this.quantity.push(unscaled(row.quantity))
  }
  protected ownColumns() {
    return { trade_id: this.trade_id, side: this.side, price: this.price.values(), quantity: this.quantity.values() }
  }
}

class QuoteRows extends MarketRows<QuoteRow> {
  private readonly quote_id: Array<string> = []
  private readonly bid_price = new Int64Column()
  private readonly bid_size = new Int64Column()
  private readonly ask_price = new Int64Column()
  private readonly ask_size = new Int64Column()
  protected pushOwn(row: QuoteRow): void {
    this.quote_id.push(row.quote_id)
    this.bid_price.push(unscaled(row.bid_price))
    this.bid_size.push(unscaled(row.bid_size))
    this.ask_price.push(unscaled(row.ask_price))
    this.ask_size.push(unscaled(row.ask_size))
  }
  protected ownColumns() {
    return {
      quote_id: this.quote_id,
      bid_price: this.bid_price.values(),
      bid_size: this.bid_size.values(),
      ask_price: this.ask_price.values(),
      ask_size: this.ask_size.values()
    }
  }
}

export const tradeRows = (): RowBuffer<TradeRow> => new TradeRows()
export const quoteRows = (): RowBuffer<QuoteRow> => new QuoteRows()

const days = (date: string | null) => (date === null ? null : daysOfIsoDate(date))

/** Instruments are few (reference data): kept as rows until their columns are asked for. */
class InstrumentRows implements RowBuffer<InstrumentRow> {
  readonly newest = -1
  private readonly rows: Array<InstrumentRow> = []
  get size() {
    return this.rows.length
  }
  push(row: InstrumentRow): void {
    this.rows.push(row)
  }
  columns(): ColumnBatch {
    const rows = this.rows
    return {
      rowCount: rows.length,
      columns: {
        symbol: rows.map((r) => r.symbol),
        exchange: rows.map((r) => r.exchange),
        company_id: rows.map((r) => r.company_id),
        name: rows.map((r) => r.name),
        isin: rows.map((r) => r.isin),
        currency: rows.map((r) => r.currency),
        asset_class: rows.map((r) => r.asset_class),
        listing_date: rows.map((r) => days(r.listing_date)),
        delisting_date: rows.map((r) => days(r.delisting_date)),
        ingestion_timestamp: micros(rows.map((r) => r.ingestion_timestamp)),
        kafka_topic: rows.map((r) => r.kafka_topic),
        kafka_partition: rows.map((r) => r.kafka_partition),
        kafka_offset: rows.map((r) => r.kafka_offset)
      }
    }
  }
}

export const instrumentRows = (): RowBuffer<InstrumentRow> => new InstrumentRows()

const columnsOf = <R>(buffer: RowBuffer<R>, rows: ReadonlyArray<R>): ColumnBatch => {
  for (const row of rows) buffer.push(row)
  return buffer.columns()
}

/** Rows held as one batch of columns (tests and tools that write rows they hold). */
export const tradeColumns = (rows: ReadonlyArray<TradeRow>): ColumnBatch => columnsOf(tradeRows(), rows)
export const quoteColumns = (rows: ReadonlyArray<QuoteRow>): ColumnBatch => columnsOf(quoteRows(), rows)

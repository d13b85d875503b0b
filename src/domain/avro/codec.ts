/**
 * The Kafka value codec: Avro binary with Confluent framing
 *
 *   byte 0      magic 0
 *   bytes 1..4  schema id, big-endian int32
 *   bytes 5..   Avro binary of the writer schema
 *
 * `decode` never throws: a record is either a Trade, a Quote or an Instrument that satisfies the
 * domain rules (exactly what `decodeTrade` / `decodeQuote` accept; a test checks the
 * equivalence), or a PoisonReason for the dead-letter topic. The hot path validates the Avro
 * record directly with plain checks instead of running the domain Schema per record (which is
 * far slower); instruments are few and go through the domain Schema.
 *
 * Encoding uses the hand-written writer of binary.ts (avsc's generic encoder was the producer's
 * main cost); trades and quotes in our own schemas decode with its mirror, reader.ts (the same
 * for ingestion); avsc resolves other writer schemas and reads instruments.
 *
 * Decimals travel as their unscaled value at scale 8 (two's complement, big-endian): exact.
 *
 * Its parts beside it: framing.ts, poisonReasons.ts, decimalBytes.ts, rawRecords.ts,
 * domainChecks.ts, avscTypes.ts, unionResolver.ts, logicalTypes.ts, writerScan.ts.
 */
import type avro from "avsc"
import { Result } from "effect"
import { fieldProblems } from "../errors.ts"
import type { Quote, Trade } from "../marketData.ts"
import type { Instrument } from "../reference.ts"
import { daysOfIsoDate } from "../time.ts"
import { avroTypeOf } from "./avscTypes.ts"
import { AvroWriter } from "./binary.ts"
import { decimalCache, unscaledFromBytes } from "./decimalBytes.ts"
import { checkCommon, decodeInstrument, type FieldProblem, isoOfDays, nonNegative, positive, SIDES } from "./domainChecks.ts"
import { FRAME_HEADER_BYTES, framedSchemaId, MAGIC_BYTE } from "./framing.ts"
import { checkLogicalTypes } from "./logicalTypes.ts"
import { NotFramed, type PoisonReason, SchemaInvalid, Undecodable, UnknownSchemaId } from "./poisonReasons.ts"
import { DECIMAL_FIELDS, type RawInstrument, type RawQuote, type RawTrade } from "./rawRecords.ts"
import { AvroReader, Truncated } from "./reader.ts"
import { EMBEDDED_SCHEMA_IDS, instrumentSchema, type MessageKind, quoteSchema, tradeSchema } from "./schemas.ts"
import { resolveEachBranch } from "./unionResolver.ts"
import { scanWriter } from "./writerScan.ts"

export type WireMessage =
  | { readonly kind: "trade"; readonly schemaId: number; readonly value: Trade }
  | { readonly kind: "quote"; readonly schemaId: number; readonly value: Quote }
  | { readonly kind: "instrument"; readonly schemaId: number; readonly value: Instrument }

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const READER_SCHEMAS = { trade: tradeSchema, quote: quoteSchema, instrument: instrumentSchema } as const

interface Reader {
  readonly kind: MessageKind
  readonly resolver: avro.Resolver | undefined
  /** The writer type of a resolver, which scanWriter walks before avsc reads (else the reader's own type). */
  readonly writer?: avro.Type
}

export interface WireCodecOptions {
  /** Schema id written by encodeTrade (embedded default 1). */
  readonly tradeSchemaId?: number
  /** Schema id written by encodeQuote (embedded default 2). */
  readonly quoteSchemaId?: number
  /**
   * Schema id written by encodeInstrument (embedded default 3). null: none (a registry without
   * an instruments subject, whose id 3 is some other schema); encodeInstrument then throws.
   */
  readonly instrumentSchemaId?: number | null
}

export interface WireCodec {
  readonly tradeSchemaId: number
  readonly quoteSchemaId: number
  /** undefined when the codec was made without one (`instrumentSchemaId: null`). */
  readonly instrumentSchemaId: number | undefined
  /**
   * The encoders return views of a shared arena that later values never overwrite. They throw
   * a RangeError for a decimal that does not fit decimal(18, 8).
   */
  encodeTrade(trade: Trade): Uint8Array
  encodeQuote(quote: Quote): Uint8Array
  encodeInstrument(instrument: Instrument): Uint8Array
  /** A framed value to a validated Trade, Quote or Instrument, or the reason it is poison. Never throws. */
  decode(bytes: Uint8Array): Result.Result<WireMessage, PoisonReason>
  /**
   * Teach the codec another writer schema (e.g. fetched from the registry after an
   * UnknownSchemaId): values written with it are resolved to our reader schema. Throws (and
   * learns nothing) when they cannot be: avsc's reasons, or a field whose logical type differs.
   */
  addWriterSchema(schemaId: number, kind: MessageKind, schema: object): void
  knows(schemaId: number): boolean
}

export const makeWireCodec = (options: WireCodecOptions = {}): WireCodec => {
  const tradeSchemaId = options.tradeSchemaId ?? EMBEDDED_SCHEMA_IDS.trade
  const quoteSchemaId = options.quoteSchemaId ?? EMBEDDED_SCHEMA_IDS.quote
  const instrumentSchemaId = options.instrumentSchemaId === null
    ? undefined
    : options.instrumentSchemaId ?? EMBEDDED_SCHEMA_IDS.instrument
  // Two kinds under one id would read every value of one as the other.
  if (tradeSchemaId === quoteSchemaId || tradeSchemaId === instrumentSchemaId || quoteSchemaId === instrumentSchemaId) {
    throw new RangeError(`schema ids must differ: trade ${tradeSchemaId}, quote ${quoteSchemaId}, instrument ${instrumentSchemaId}`)
  }
  const types: Record<MessageKind, avro.Type> = {
    trade: avroTypeOf(tradeSchema),
    quote: avroTypeOf(quoteSchema),
    instrument: avroTypeOf(instrumentSchema)
  }
  const readers = new Map<number, Reader>([
    [tradeSchemaId, { kind: "trade", resolver: undefined }],
    [quoteSchemaId, { kind: "quote", resolver: undefined }]
  ])
  if (instrumentSchemaId !== undefined) readers.set(instrumentSchemaId, { kind: "instrument", resolver: undefined })
  const w = new AvroWriter()

  /** Confluent framing around the value written since `w.begin(FRAME_HEADER_BYTES)`. */
  const framed = (schemaId: number): Uint8Array => {
    w.byteAt(0, MAGIC_BYTE)
    w.byteAt(1, schemaId >>> 24)
    w.byteAt(2, (schemaId >>> 16) & 0xff)
    w.byteAt(3, (schemaId >>> 8) & 0xff)
    w.byteAt(4, schemaId & 0xff)
    return w.end()
  }

  const sequence = (s: bigint | null) => {
    if (s === null) return w.branch(0)
    w.branch(1)
    w.bigLong(s)
  }

  // Field order is the schemas' (schemas.ts); a test checks the bytes against avsc's.
  const encodeTrade = (t: Trade): Uint8Array => {
    w.begin(FRAME_HEADER_BYTES)
    w.string(t.message_id)
    w.string(t.trade_id)
    w.string(t.symbol)
    w.string(t.exchange)
    w.string(t.asset_class)
    w.long(t.exchange_timestamp)
    w.decimal("price", t.price)
    w.decimal("quantity", t.quantity)
    w.string(t.currency)
    w.string(t.side)
    w.stringArray(t.conditions)
    sequence(t.source_sequence)
    w.stringMap(t.vendor_data)
    return framed(tradeSchemaId)
  }

  const encodeQuote = (q: Quote): Uint8Array => {
    w.begin(FRAME_HEADER_BYTES)
    w.string(q.message_id)
    w.string(q.quote_id)
    w.string(q.symbol)
    w.string(q.exchange)
    w.string(q.asset_class)
    w.long(q.exchange_timestamp)
    w.decimal("bid_price", q.bid_price)
    w.decimal("bid_size", q.bid_size)
    w.decimal("ask_price", q.ask_price)
    w.decimal("ask_size", q.ask_size)
    w.string(q.currency)
    w.stringArray(q.conditions)
    sequence(q.source_sequence)
    w.stringMap(q.vendor_data)
    return framed(quoteSchemaId)
  }

  const date = (iso: string | null) => {
    if (iso === null) return w.branch(0)
    w.branch(1)
    w.long(daysOfIsoDate(iso))
  }

  const encodeInstrument = (i: Instrument): Uint8Array => {
    if (instrumentSchemaId === undefined) throw new RangeError("this codec has no instrument schema id")
    w.begin(FRAME_HEADER_BYTES)
    w.string(i.symbol)
    w.string(i.exchange)
    w.nullableString(i.company_id)
    w.string(i.name)
    w.nullableString(i.isin)
    w.string(i.currency)
    w.string(i.asset_class)
    date(i.listing_date)
    date(i.delisting_date)
    return framed(instrumentSchemaId)
  }

  const decimal = decimalCache()

  const toTrade = (schemaId: number, r: RawTrade): Result.Result<WireMessage, PoisonReason> => {
    const problems: Array<FieldProblem> = []
    checkCommon(r, problems)
    if (r.trade_id.length === 0) problems.push({ field: "trade_id", problem: "must not be empty" })
    const price = r.price
    const quantity = r.quantity
    positive("price", price, problems)
    positive("quantity", quantity, problems)
    if (!SIDES.has(r.side)) problems.push({ field: "side", problem: "must be BUY, SELL, SELL_SHORT or UNKNOWN" })
    if (problems.length > 0) return Result.fail(new SchemaInvalid({ kind: "trade", schemaId, problems }))
    // The raw record is this decode's own: it becomes the value, its decimals swapped in (no copy
    // per record).
    const value = r as unknown as Mutable<Trade>
    value.price = decimal(price)
    value.quantity = decimal(quantity)
    return Result.succeed({ kind: "trade", schemaId, value: value as Trade })
  }

  const toQuote = (schemaId: number, r: RawQuote): Result.Result<WireMessage, PoisonReason> => {
    const problems: Array<FieldProblem> = []
    checkCommon(r, problems)
    if (r.quote_id.length === 0) problems.push({ field: "quote_id", problem: "must not be empty" })
    const bidPrice = r.bid_price
    const bidSize = r.bid_size
    const askPrice = r.ask_price
    const askSize = r.ask_size
    nonNegative("bid_price", bidPrice, problems)
    nonNegative("bid_size", bidSize, problems)
    nonNegative("ask_price", askPrice, problems)
    nonNegative("ask_size", askSize, problems)
    if (problems.length > 0) return Result.fail(new SchemaInvalid({ kind: "quote", schemaId, problems }))
    // As toTrade: the raw record becomes the value.
    const value = r as unknown as Mutable<Quote>
    value.bid_price = decimal(bidPrice)
    value.bid_size = decimal(bidSize)
    value.ask_price = decimal(askPrice)
    value.ask_size = decimal(askSize)
    return Result.succeed({ kind: "quote", schemaId, value: value as Quote })
  }

  const toInstrument = (schemaId: number, r: RawInstrument): Result.Result<WireMessage, PoisonReason> => {
    const decoded = decodeInstrument({ ...r, listing_date: isoOfDays(r.listing_date), delisting_date: isoOfDays(r.delisting_date) })
    return Result.isSuccess(decoded)
      ? Result.succeed({ kind: "instrument", schemaId, value: decoded.success })
      : Result.fail(new SchemaInvalid({ kind: "instrument", schemaId, problems: fieldProblems(decoded.failure.issue) }))
  }

  const r = new AvroReader()

  /** Our own trade and quote schemas, field by field in the schemas' order. */
  const readOwn = (kind: "trade" | "quote", buf: Buffer): RawTrade | RawQuote => {
    r.reset(buf, FRAME_HEADER_BYTES)
    const message_id = r.string()
    const id = r.string()
    const symbol = r.code()
    const exchange = r.code()
    const asset_class = r.code()
    const exchange_timestamp = r.longOrNaN()
    if (kind === "trade") {
      const price = r.unscaled()
      const quantity = r.unscaled()
      const currency = r.code()
      const side = r.code()
      const conditions = r.codeArray()
      const source_sequence = r.branch(2) === 0 ? null : r.bigLong()
      const vendor_data = r.stringMap()
      return {
        message_id, trade_id: id, symbol, exchange, asset_class, exchange_timestamp, price, quantity, currency, side,
        conditions, source_sequence, vendor_data
      }
    }
    const bid_price = r.unscaled()
    const bid_size = r.unscaled()
    const ask_price = r.unscaled()
    const ask_size = r.unscaled()
    const currency = r.code()
    const conditions = r.codeArray()
    const source_sequence = r.branch(2) === 0 ? null : r.bigLong()
    const vendor_data = r.stringMap()
    return {
      message_id, quote_id: id, symbol, exchange, asset_class, exchange_timestamp, bid_price, bid_size, ask_price,
      ask_size, currency, conditions, source_sequence, vendor_data
    }
  }

  /** Other writer schemas (resolved to ours) and instruments; decimals and timestamps as readOwn gives them. */
  const readWithAvsc = (reader: Reader, buf: Buffer): { value: unknown; offset: number } => {
    // Bounds, and strings checked for UTF-8, which avsc reads as U+FFFD.
    r.reset(buf, FRAME_HEADER_BYTES)
    scanWriter(r, reader.writer ?? types[reader.kind])
    const decoded = types[reader.kind].decode(buf, FRAME_HEADER_BYTES, reader.resolver)
    if (decoded.offset < 0 || reader.kind === "instrument") return decoded
    const v = decoded.value as Record<string, unknown>
    const ts = Number(v.exchange_timestamp as bigint)
    const value: Record<string, unknown> = { ...v, exchange_timestamp: Number.isSafeInteger(ts) ? ts : NaN }
    for (const name of DECIMAL_FIELDS[reader.kind]) value[name] = unscaledFromBytes(v[name] as Buffer)
    return { value, offset: decoded.offset }
  }

  const decode = (bytes: Uint8Array): Result.Result<WireMessage, PoisonReason> => {
    if (bytes.length < FRAME_HEADER_BYTES) {
      return Result.fail(new NotFramed({ detail: `${bytes.length} bytes, a frame needs at least 5` }))
    }
    if (bytes[0] !== MAGIC_BYTE) return Result.fail(new NotFramed({ detail: `magic byte is ${bytes[0]}, not 0` }))
    const schemaId = framedSchemaId(bytes)!
    const reader = readers.get(schemaId)
    if (reader === undefined) return Result.fail(new UnknownSchemaId({ schemaId }))
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const own = reader.resolver === undefined && reader.kind !== "instrument"
    let value: unknown
    let offset: number
    try {
      if (own) {
        value = readOwn(reader.kind, buf)
        offset = r.offset
      } else {
        const decoded = readWithAvsc(reader, buf)
        value = decoded.value
        offset = decoded.offset
      }
    } catch (e) {
      const detail = e instanceof Truncated ? "truncated" : e instanceof Error ? e.message : String(e)
      return Result.fail(new Undecodable({ schemaId, detail }))
    }
    if (offset < 0) return Result.fail(new Undecodable({ schemaId, detail: "truncated" }))
    if (offset !== buf.length) {
      return Result.fail(new Undecodable({ schemaId, detail: `${buf.length - offset} trailing bytes` }))
    }
    return reader.kind === "trade"
      ? toTrade(schemaId, value as RawTrade)
      : reader.kind === "quote"
      ? toQuote(schemaId, value as RawQuote)
      : toInstrument(schemaId, value as RawInstrument)
  }

  return {
    tradeSchemaId,
    quoteSchemaId,
    instrumentSchemaId,
    encodeTrade,
    encodeQuote,
    encodeInstrument,
    decode,
    addWriterSchema: (schemaId, kind, schema) => {
      const reader = types[kind]
      const writer = avroTypeOf(schema)
      checkLogicalTypes(schema, READER_SCHEMAS[kind])
      readers.set(schemaId, writer.equals(reader) ? { kind, resolver: undefined } : {
        kind,
        resolver: resolveEachBranch(reader, writer),
        writer
      })
    },
    knows: (schemaId) => readers.has(schemaId)
  }
}

/**
 * The Kafka value codec: Avro binary with Confluent framing
 *
 *   byte 0      magic 0
 *   bytes 1..4  schema id, big-endian int32
 *   bytes 5..   Avro binary of the writer schema
 *
 * `decode` never throws: a record is either a Trade or a Quote that satisfies the domain rules
 * (exactly what `decodeTrade` / `decodeQuote` accept; a test checks the equivalence), or a
 * PoisonReason for the dead-letter topic. The hot path validates the Avro record directly with
 * plain checks instead of running the domain Schema per record (which is far slower).
 *
 * Decimals travel as their unscaled value at scale 8 (two's complement, big-endian): exact.
 */
import avro from "avsc"
import { BigIntLong } from "./bigintLong.ts"
import { BigDecimal, Result, Schema } from "effect"
import { SCALE, toUnscaled } from "../decimal.ts"
import type { Quote, Side, Trade } from "../marketData.ts"
import { EMBEDDED_SCHEMA_IDS, type MessageKind, quoteSchema, tradeSchema } from "./schemas.ts"

// ---------------------------------------------------------------------------
// Poison reasons (what goes into the DLQ's k2-dlq-reason header is the _tag)

/** Too short, or the first byte is not the Confluent magic byte 0. */
export class NotFramed extends Schema.TaggedError<NotFramed>()("NotFramed", {
  detail: Schema.String
}) {
  override get message() {
    return `not a Confluent-framed Avro value: ${this.detail}`
  }
}

/** Framed, known schema, but the Avro body does not decode (truncated, trailing or garbage bytes). */
export class Undecodable extends Schema.TaggedError<Undecodable>()("Undecodable", {
  schemaId: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `undecodable Avro body (schema id ${this.schemaId}): ${this.detail}`
  }
}

/** The schema id is not one this codec knows (resolve it with the registry, then addWriterSchema). */
export class UnknownSchemaId extends Schema.TaggedError<UnknownSchemaId>()("UnknownSchemaId", {
  schemaId: Schema.Number
}) {
  override get message() {
    return `unknown schema id ${this.schemaId}`
  }
}

export const FieldProblem = Schema.Struct({ field: Schema.String, problem: Schema.String })
export type FieldProblem = typeof FieldProblem.Type

/** Decodes, but breaks the domain rules (non-positive price, bad symbol, timestamp out of range ...). */
export class SchemaInvalid extends Schema.TaggedError<SchemaInvalid>()("SchemaInvalid", {
  kind: Schema.Literals(["trade", "quote"]),
  schemaId: Schema.Number,
  problems: Schema.Array(FieldProblem)
}) {
  override get message() {
    return `invalid ${this.kind}: ${this.problems.map((p) => `${p.field}: ${p.problem}`).join("; ")}`
  }
}

export type PoisonReason = NotFramed | Undecodable | UnknownSchemaId | SchemaInvalid

export type WireMessage =
  | { readonly kind: "trade"; readonly schemaId: number; readonly value: Trade }
  | { readonly kind: "quote"; readonly schemaId: number; readonly value: Quote }

// ---------------------------------------------------------------------------
// Framing

export const MAGIC_BYTE = 0
export const FRAME_HEADER_BYTES = 5

/** The schema id of a framed value, or undefined when it is not framed. */
export const framedSchemaId = (bytes: Uint8Array): number | undefined =>
  bytes.length >= FRAME_HEADER_BYTES && bytes[0] === MAGIC_BYTE
    ? ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0
    : undefined

// ---------------------------------------------------------------------------
// Decimal bytes <-> unscaled bigint (two's complement, big-endian, minimal length)

export const unscaledFromBytes = (b: Uint8Array): bigint => {
  const n = b.length
  if (n === 0) return 0n
  if (n <= 6) {
    // 48 bits fit a double exactly.
    let v = 0
    for (let i = 0; i < n; i++) v = v * 256 + b[i]!
    if (b[0]! & 0x80) v -= 2 ** (8 * n)
    return BigInt(v)
  }
  let v = 0n
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[i]!)
  if (b[0]! & 0x80) v -= 1n << BigInt(8 * n)
  return v
}

export const unscaledToBytes = (v: bigint): Buffer => {
  if (v === 0n) return Buffer.from([0])
  // Minimal two's complement length.
  let n = 1
  while (v >= (1n << BigInt(8 * n - 1)) || v < -(1n << BigInt(8 * n - 1))) n++
  const out = Buffer.allocUnsafe(n)
  let x = v < 0n ? (1n << BigInt(8 * n)) + v : v
  if (n <= 6) {
    let y = Number(x)
    for (let i = n - 1; i >= 0; i--) {
      out[i] = y % 256
      y = Math.floor(y / 256)
    }
    return out
  }
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

const LIMIT = 10n ** 18n

/** A decimal(18, 8) from its unscaled value, trailing zeros stripped (a normalized BigDecimal). */
const decimalOf = (u: bigint): BigDecimal.BigDecimal => {
  if (u === 0n) return BigDecimal.make(0n, 0)
  const asNumber = Number(u)
  if (Number.isSafeInteger(asNumber)) {
    let v = asNumber
    let scale = SCALE
    while (scale > 0 && v % 10 === 0) {
      v /= 10
      scale--
    }
    return BigDecimal.make(BigInt(v), scale)
  }
  let v = u
  let scale = SCALE
  while (scale > 0 && v % 10n === 0n) {
    v /= 10n
    scale--
  }
  return BigDecimal.make(v, scale)
}

// ---------------------------------------------------------------------------
// Domain checks, equivalent to src/domain/marketData.ts (tested against decodeTrade/decodeQuote)

const CODE = /^[A-Z0-9._-]{1,32}$/
const CURRENCY = /^[A-Z]{3}$/
const ASSET_CLASSES: ReadonlySet<string> = new Set(["equities", "futures", "options", "fx", "crypto", "fixed_income"])
const SIDES: ReadonlySet<string> = new Set(["BUY", "SELL", "SELL_SHORT", "UNKNOWN"])
/** Years 1900..2199, as src/domain/time.ts. */
const MIN_MICROS = Date.UTC(1900, 0, 1) * 1000
const MAX_MICROS = Date.UTC(2200, 0, 1) * 1000

/** The Avro record as avsc reads it (bigint longs, raw decimal bytes). */
interface RawCommon {
  readonly message_id: string
  readonly symbol: string
  readonly exchange: string
  readonly asset_class: string
  readonly exchange_timestamp: bigint
  readonly currency: string
  readonly conditions: Array<string>
  readonly source_sequence: bigint | null
  readonly vendor_data: Record<string, string>
}
interface RawTrade extends RawCommon {
  readonly trade_id: string
  readonly price: Buffer
  readonly quantity: Buffer
  readonly side: string
}
interface RawQuote extends RawCommon {
  readonly quote_id: string
  readonly bid_price: Buffer
  readonly bid_size: Buffer
  readonly ask_price: Buffer
  readonly ask_size: Buffer
}

const checkCommon = (r: RawCommon, problems: Array<FieldProblem>): number => {
  if (r.message_id.length === 0) problems.push({ field: "message_id", problem: "must not be empty" })
  if (!CODE.test(r.symbol)) problems.push({ field: "symbol", problem: "must be 1-32 upper-case letters, digits, . _ or -" })
  if (!CODE.test(r.exchange)) {
    problems.push({ field: "exchange", problem: "must be 1-32 upper-case letters, digits, . _ or -" })
  }
  if (!ASSET_CLASSES.has(r.asset_class)) problems.push({ field: "asset_class", problem: "must be a known asset class" })
  const ts = r.exchange_timestamp
  const micros = ts >= BigInt(MIN_MICROS) && ts < BigInt(MAX_MICROS) ? Number(ts) : NaN
  if (Number.isNaN(micros)) {
    problems.push({ field: "exchange_timestamp", problem: "must be an instant between 1900 and 2200" })
  }
  if (!CURRENCY.test(r.currency)) problems.push({ field: "currency", problem: "must be an ISO-4217 code such as AUD" })
  if (r.source_sequence !== null && r.source_sequence < 0n) {
    problems.push({ field: "source_sequence", problem: "must not be negative" })
  }
  return micros
}

const positive = (field: string, u: bigint, problems: Array<FieldProblem>) => {
  if (u <= 0n) problems.push({ field, problem: "must be greater than 0" })
  else if (u >= LIMIT) problems.push({ field, problem: "must fit decimal(18, 8)" })
}
const nonNegative = (field: string, u: bigint, problems: Array<FieldProblem>) => {
  if (u < 0n) problems.push({ field, problem: "must not be negative" })
  else if (u >= LIMIT) problems.push({ field, problem: "must fit decimal(18, 8)" })
}

// ---------------------------------------------------------------------------
// avsc types


/**
 * Logical types annotate, they do not change the binary encoding: avsc reads them as their
 * underlying type (decimal -> bytes, timestamp-micros -> long). Replacing `{type: "long", ...}`
 * by `"long"` also routes those longs through the bigint long of the registry.
 */
const stripLogicalTypes = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(stripLogicalTypes)
  if (schema === null || typeof schema !== "object") return schema
  const o = schema as Record<string, unknown>
  if (typeof o.logicalType === "string" && typeof o.type === "string" && !("name" in o)) return o.type
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) out[k] = k === "default" ? v : stripLogicalTypes(v)
  return out
}

/** A fresh registry per type: avsc records every named type in it. */
export const avroTypeOf = (schema: object): avro.Type =>
  avro.Type.forSchema(stripLogicalTypes(schema) as avro.Schema, { registry: { long: BigIntLong } })

interface Reader {
  readonly kind: MessageKind
  readonly resolver: avro.Resolver | undefined
}

export interface WireCodecOptions {
  /** Schema id written by encodeTrade (embedded default 1). */
  readonly tradeSchemaId?: number
  /** Schema id written by encodeQuote (embedded default 2). */
  readonly quoteSchemaId?: number
}

export interface WireCodec {
  readonly tradeSchemaId: number
  readonly quoteSchemaId: number
  encodeTrade(trade: Trade): Uint8Array
  encodeQuote(quote: Quote): Uint8Array
  /** A framed value to a validated Trade or Quote, or the reason it is poison. Never throws. */
  decode(bytes: Uint8Array): Result.Result<WireMessage, PoisonReason>
  /**
   * Teach the codec another writer schema (e.g. fetched from the registry after an
   * UnknownSchemaId): values written with it are resolved to our reader schema.
   */
  addWriterSchema(schemaId: number, kind: MessageKind, schema: object): void
  knows(schemaId: number): boolean
}

const SCRATCH_BYTES = 64 * 1024

export const makeWireCodec = (options: WireCodecOptions = {}): WireCodec => {
  const tradeSchemaId = options.tradeSchemaId ?? EMBEDDED_SCHEMA_IDS.trade
  const quoteSchemaId = options.quoteSchemaId ?? EMBEDDED_SCHEMA_IDS.quote
  const tradeType = avroTypeOf(tradeSchema)
  const quoteType = avroTypeOf(quoteSchema)
  const readers = new Map<number, Reader>([
    [tradeSchemaId, { kind: "trade", resolver: undefined }],
    [quoteSchemaId, { kind: "quote", resolver: undefined }]
  ])
  let scratch = Buffer.allocUnsafe(SCRATCH_BYTES)

  const frame = (type: avro.Type, schemaId: number, value: unknown): Uint8Array => {
    for (;;) {
      const end = type.encode(value, scratch, FRAME_HEADER_BYTES)
      if (end >= 0) {
        const out = Buffer.allocUnsafe(end)
        scratch.copy(out, 0, 0, end)
        out[0] = MAGIC_BYTE
        out.writeUInt32BE(schemaId, 1)
        return out
      }
      scratch = Buffer.allocUnsafe(scratch.length * 2 - end)
    }
  }

  const unscaled = (field: string, d: BigDecimal.BigDecimal): bigint => {
    const u = toUnscaled(d)
    if (u === undefined) throw new RangeError(`${field} does not fit decimal(18, 8): ${BigDecimal.format(d)}`)
    return u
  }

  const common = (m: Trade | Quote) => ({
    message_id: m.message_id,
    symbol: m.symbol,
    exchange: m.exchange,
    asset_class: m.asset_class,
    exchange_timestamp: BigInt(m.exchange_timestamp),
    currency: m.currency,
    conditions: m.conditions as Array<string>,
    source_sequence: m.source_sequence,
    vendor_data: m.vendor_data as Record<string, string>
  })

  const encodeTrade = (t: Trade): Uint8Array =>
    frame(tradeType, tradeSchemaId, {
      ...common(t),
      trade_id: t.trade_id,
      price: unscaledToBytes(unscaled("price", t.price)),
      quantity: unscaledToBytes(unscaled("quantity", t.quantity)),
      side: t.side
    })

  const encodeQuote = (q: Quote): Uint8Array =>
    frame(quoteType, quoteSchemaId, {
      ...common(q),
      quote_id: q.quote_id,
      bid_price: unscaledToBytes(unscaled("bid_price", q.bid_price)),
      bid_size: unscaledToBytes(unscaled("bid_size", q.bid_size)),
      ask_price: unscaledToBytes(unscaled("ask_price", q.ask_price)),
      ask_size: unscaledToBytes(unscaled("ask_size", q.ask_size))
    })

  const toTrade = (schemaId: number, r: RawTrade): Result.Result<WireMessage, PoisonReason> => {
    const problems: Array<FieldProblem> = []
    const micros = checkCommon(r, problems)
    if (r.trade_id.length === 0) problems.push({ field: "trade_id", problem: "must not be empty" })
    const price = unscaledFromBytes(r.price)
    const quantity = unscaledFromBytes(r.quantity)
    positive("price", price, problems)
    positive("quantity", quantity, problems)
    if (!SIDES.has(r.side)) problems.push({ field: "side", problem: "must be BUY, SELL, SELL_SHORT or UNKNOWN" })
    if (problems.length > 0) return Result.fail(new SchemaInvalid({ kind: "trade", schemaId, problems }))
    return Result.succeed({
      kind: "trade",
      schemaId,
      value: {
        message_id: r.message_id,
        symbol: r.symbol,
        exchange: r.exchange,
        asset_class: r.asset_class as Trade["asset_class"],
        exchange_timestamp: micros,
        currency: r.currency,
        conditions: r.conditions,
        source_sequence: r.source_sequence,
        vendor_data: r.vendor_data,
        trade_id: r.trade_id,
        price: decimalOf(price),
        quantity: decimalOf(quantity),
        side: r.side as Side
      }
    })
  }

  const toQuote = (schemaId: number, r: RawQuote): Result.Result<WireMessage, PoisonReason> => {
    const problems: Array<FieldProblem> = []
    const micros = checkCommon(r, problems)
    if (r.quote_id.length === 0) problems.push({ field: "quote_id", problem: "must not be empty" })
    const bidPrice = unscaledFromBytes(r.bid_price)
    const bidSize = unscaledFromBytes(r.bid_size)
    const askPrice = unscaledFromBytes(r.ask_price)
    const askSize = unscaledFromBytes(r.ask_size)
    nonNegative("bid_price", bidPrice, problems)
    nonNegative("bid_size", bidSize, problems)
    nonNegative("ask_price", askPrice, problems)
    nonNegative("ask_size", askSize, problems)
    if (problems.length > 0) return Result.fail(new SchemaInvalid({ kind: "quote", schemaId, problems }))
    return Result.succeed({
      kind: "quote",
      schemaId,
      value: {
        message_id: r.message_id,
        symbol: r.symbol,
        exchange: r.exchange,
        asset_class: r.asset_class as Quote["asset_class"],
        exchange_timestamp: micros,
        currency: r.currency,
        conditions: r.conditions,
        source_sequence: r.source_sequence,
        vendor_data: r.vendor_data,
        quote_id: r.quote_id,
        bid_price: decimalOf(bidPrice),
        bid_size: decimalOf(bidSize),
        ask_price: decimalOf(askPrice),
        ask_size: decimalOf(askSize)
      }
    })
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
    const type = reader.kind === "trade" ? tradeType : quoteType
    let decoded: { value: unknown; offset: number }
    try {
      decoded = type.decode(buf, FRAME_HEADER_BYTES, reader.resolver)
    } catch (e) {
      return Result.fail(new Undecodable({ schemaId, detail: e instanceof Error ? e.message : String(e) }))
    }
    if (decoded.offset < 0) return Result.fail(new Undecodable({ schemaId, detail: "truncated" }))
    if (decoded.offset !== buf.length) {
      return Result.fail(new Undecodable({ schemaId, detail: `${buf.length - decoded.offset} trailing bytes` }))
    }
    return reader.kind === "trade"
      ? toTrade(schemaId, decoded.value as RawTrade)
      : toQuote(schemaId, decoded.value as RawQuote)
  }

  return {
    tradeSchemaId,
    quoteSchemaId,
    encodeTrade,
    encodeQuote,
    decode,
    addWriterSchema: (schemaId, kind, schema) => {
      const reader = kind === "trade" ? tradeType : quoteType
      const writer = avroTypeOf(schema)
      readers.set(schemaId, {
        kind,
        resolver: writer.equals(reader) ? undefined : reader.createResolver(writer)
      })
    },
    knows: (schemaId) => readers.has(schemaId)
  }
}

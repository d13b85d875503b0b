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
 */
import { isUtf8 } from "node:buffer"
import avro from "avsc"
import { BigIntLong } from "./bigintLong.ts"
import { BigDecimal, Result, Schema } from "effect"
import { SCALE } from "../decimal.ts"
import { FieldProblem, fieldProblems } from "../errors.ts"
import type { Quote, Trade } from "../marketData.ts"
import { Instrument } from "../reference.ts"
import { dayText, daysOfIsoDate } from "../time.ts"
import { setEntry } from "../wire.ts"
import { AvroWriter } from "./binary.ts"
import { AvroReader, Malformed, Truncated, type Unscaled, unscaledAt } from "./reader.ts"
import { EMBEDDED_SCHEMA_IDS, instrumentSchema, type MessageKind, quoteSchema, tradeSchema } from "./schemas.ts"
import { CODE_PATTERN, CODE_RULE, MESSAGE_ID_MAX, MESSAGE_ID_RULE } from "../marketData.ts"

// ---------------------------------------------------------------------------
// Poison reasons (what goes into the DLQ's k2-dlq-reason header is the _tag)

/** Too short, or the first byte is not the Confluent magic byte 0. */
class NotFramed extends Schema.TaggedError<NotFramed>()("NotFramed", {
  detail: Schema.String
}) {
  override get message() {
    return `not a Confluent-framed Avro value: ${this.detail}`
  }
}

/** Framed, known schema, but the Avro body does not decode (truncated, trailing or garbage bytes). */
class Undecodable extends Schema.TaggedError<Undecodable>()("Undecodable", {
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

type FieldProblem = typeof FieldProblem.Type

/** Decodes, but breaks the domain rules (non-positive price, bad symbol, timestamp out of range ...). */
class SchemaInvalid extends Schema.TaggedError<SchemaInvalid>()("SchemaInvalid", {
  kind: Schema.Literals(["trade", "quote", "instrument"]),
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
  | { readonly kind: "instrument"; readonly schemaId: number; readonly value: Instrument }

// ---------------------------------------------------------------------------
// Framing

const MAGIC_BYTE = 0
const FRAME_HEADER_BYTES = 5

/** The schema id of a framed value, or undefined when it is not framed. */
export const framedSchemaId = (bytes: Uint8Array): number | undefined =>
  bytes.length >= FRAME_HEADER_BYTES && bytes[0] === MAGIC_BYTE
    ? ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0
    : undefined

// ---------------------------------------------------------------------------
// Decimal bytes <-> unscaled bigint (two's complement, big-endian, minimal length)

export const unscaledFromBytes = (b: Uint8Array): bigint => unscaledAt(b, 0, b.length)

const LIMIT = 10n ** 18n
/** Distinct decimal values a codec keeps for sharing; past it the cache starts over. */
const DECIMAL_CACHE_ENTRIES = 16_384

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

const CURRENCY = /^[A-Z]{3}$/

/** Codes a pattern passed, remembered; past this many it starts over. */
const KNOWN_CODES = 4_096

/**
 * A code check that tests each distinct code once: the reader interns codes, so a feed's few
 * symbols, exchanges and currencies come back as the same strings, and a set lookup of one (its
 * hash kept in the string) is cheaper than the pattern on every record.
 */
const knownValid = (pattern: RegExp) => {
  const known = new Set<string>()
  return (s: string): boolean => {
    if (known.has(s)) return true
    if (!pattern.test(s)) return false
    if (known.size >= KNOWN_CODES) known.clear()
    known.add(s)
    return true
  }
}
const isCode = knownValid(CODE_PATTERN)
const isCurrency = knownValid(CURRENCY)
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
  /** NaN when beyond 2^53 in magnitude (then out of range). */
  readonly exchange_timestamp: number
  readonly currency: string
  readonly conditions: ReadonlyArray<string>
  readonly source_sequence: bigint | null
  readonly vendor_data: Readonly<Record<string, string>>
}
/** Decimals as their unscaled value at scale 8 (a number when the reader read it as one). */
interface RawTrade extends RawCommon {
  readonly trade_id: string
  readonly price: Unscaled
  readonly quantity: Unscaled
  readonly side: string
}
interface RawQuote extends RawCommon {
  readonly quote_id: string
  readonly bid_price: Unscaled
  readonly bid_size: Unscaled
  readonly ask_price: Unscaled
  readonly ask_size: Unscaled
}
const DECIMAL_FIELDS = {
  trade: ["price", "quantity"],
  quote: ["bid_price", "bid_size", "ask_price", "ask_size"]
} as const

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface RawInstrument {
  readonly symbol: string
  readonly exchange: string
  readonly company_id: string | null
  readonly name: string
  readonly isin: string | null
  readonly currency: string
  readonly asset_class: string
  readonly listing_date: number | null
  readonly delisting_date: number | null
}

/** Days the JS Date can represent (about 273,000 years either side of 1970). */
const MAX_DATE_DAYS = 100_000_000

/** yyyy-mm-dd of a day number; a day outside the Date range gives text the IsoDate check refuses. */
const isoOfDays = (days: number | null): string | null =>
  days === null ? null : Math.abs(days) <= MAX_DATE_DAYS ? dayText(days) : `day ${days}`

const decodeInstrument = Schema.decodeUnknownResult(Instrument, { errors: "all" })

const checkCommon = (r: RawCommon, problems: Array<FieldProblem>): void => {
  if (r.message_id.length === 0) problems.push({ field: "message_id", problem: "must not be empty" })
  else if (r.message_id.length > MESSAGE_ID_MAX) problems.push({ field: "message_id", problem: MESSAGE_ID_RULE })
  if (!isCode(r.symbol)) problems.push({ field: "symbol", problem: CODE_RULE })
  if (!isCode(r.exchange)) {
    problems.push({ field: "exchange", problem: CODE_RULE })
  }
  if (!ASSET_CLASSES.has(r.asset_class)) problems.push({ field: "asset_class", problem: "must be a known asset class" })
  const ts = r.exchange_timestamp
  // NaN (beyond 2^53) fails too.
  if (!(ts >= MIN_MICROS && ts < MAX_MICROS)) {
    problems.push({ field: "exchange_timestamp", problem: "must be an instant between 1900 and 2200" })
  }
  if (!isCurrency(r.currency)) problems.push({ field: "currency", problem: "must be an ISO-4217 code such as AUD" })
  if (r.source_sequence !== null && r.source_sequence < 0n) {
    problems.push({ field: "source_sequence", problem: "must not be negative" })
  }
}

/** A number is below 2^53, so within decimal(18, 8). */
const tooLarge = (u: Unscaled) => typeof u === "bigint" && u >= LIMIT
const positive = (field: string, u: Unscaled, problems: Array<FieldProblem>) => {
  if (u <= 0) problems.push({ field, problem: "must be greater than 0" })
  else if (tooLarge(u)) problems.push({ field, problem: "must fit decimal(18, 8)" })
}
const nonNegative = (field: string, u: Unscaled, problems: Array<FieldProblem>) => {
  if (u < 0) problems.push({ field, problem: "must not be negative" })
  else if (tooLarge(u)) problems.push({ field, problem: "must fit decimal(18, 8)" })
}

// ---------------------------------------------------------------------------
// avsc types


const PRIMITIVES: ReadonlySet<unknown> = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])

/**
 * Logical types annotate, they do not change the binary encoding: avsc reads them as their
 * underlying type (decimal -> bytes, timestamp-micros -> long). Replacing `{type: "long", ...}`
 * by `"long"` also routes those longs through the bigint long of the registry. Only a primitive
 * collapses so (a field, with its name, does not): an annotated array, map or fixed keeps its
 * definition, and avsc ignores the annotation.
 */
const stripLogicalTypes = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(stripLogicalTypes)
  if (schema === null || typeof schema !== "object") return schema
  const o = schema as Record<string, unknown>
  if (PRIMITIVES.has(o.type) && !("name" in o)) return o.type
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) setEntry(out, k, k === "default" ? v : stripLogicalTypes(v))
  return out
}

/** What a map's `_read` uses of avsc's Tap (undeclared in its types). */
interface Tap {
  readLong(): number
  skipLong(): void
  readString(): string
}

/** avsc reads a map by assignment into `{}`, which drops a "__proto__" key: this map type keeps it. */
class FaithfulMapType extends avro.types.MapType {
  // Also a resolver's: avsc copies it onto the resolver, whose valuesType then reads the writer's.
  _read(tap: Tap): Record<string, unknown> {
    const values = this.valuesType as { _read(tap: Tap): unknown }
    const out: Record<string, unknown> = {}
    for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
      // A negative count is followed by the block's size in bytes.
      if (n < 0) {
        n = -n
        tap.skipLong()
      }
      for (let i = 0; i < n; i++) {
        const key = tap.readString()
        setEntry(out, key, values._read(tap))
      }
    }
    return out
  }
}

/** What a string's `_read` uses of avsc's Tap besides the map's. */
interface StringTap extends Tap {
  pos: number
  readonly buf: Buffer
}

/**
 * avsc reads bytes that are not UTF-8 as U+FFFD, so two ids read alike: this string type throws
 * Malformed instead. scanWriter checks the writer's strings, but only this sees a writer's bytes
 * read as our string (the spec's bytes-to-string promotion). Also a resolver's (copied onto it).
 */
class Utf8StringType extends avro.types.StringType {
  _read(tap: StringTap): string | undefined {
    const start = tap.pos
    const n = tap.readLong()
    const from = tap.pos
    tap.pos = start
    const s = tap.readString()
    if (s?.includes("\uFFFD") === true && !isUtf8(tap.buf.subarray(from, from + n))) throw new Malformed("a string is not UTF-8")
    return s
  }
}

const typeHook = (schema: avro.Schema, opts: avro.ForSchemaOptions): avro.Type | undefined => {
  if (schema === "string" || (typeof schema === "object" && (schema as { type?: unknown }).type === "string")) return new Utf8StringType()
  return typeof schema === "object" && (schema as { type?: unknown }).type === "map" ? new FaithfulMapType(schema, opts) : undefined
}

/** A fresh registry per type: avsc records every named type in it. */
export const avroTypeOf = (schema: object): avro.Type =>
  avro.Type.forSchema(stripLogicalTypes(schema) as avro.Schema, { registry: { long: BigIntLong }, typeHook })

/** A resolver as avsc reads with it (undeclared in its types). */
interface BranchResolver {
  _read(tap: { readLong(): number }): unknown
}

/**
 * `reader.createResolver(writer)`, but a writer union resolves branch by branch, as the Avro spec
 * has it: a value written in a branch ours cannot read fails (Undecodable), the others read.
 * avsc refused the whole writer when one branch could not be read, so a producer that widened
 * source_sequence or made trade_id optional (both pass a registry's default BACKWARD check)
 * dead-lettered every record. A union with no readable branch is still refused. avsc resolves
 * nested types through `Type.prototype.createResolver`, so it is replaced for this one
 * synchronous call (avsc's types are frozen: no per-type override).
 */
const resolveEachBranch = (reader: avro.Type, writer: avro.Type): avro.Resolver => {
  const proto = avro.Type.prototype as unknown as { createResolver: (this: avro.Type, w: avro.Type, opts?: object) => unknown }
  const whole = proto.createResolver
  proto.createResolver = function(w, opts) {
    const branches = (w as { readonly types?: ReadonlyArray<avro.Type> }).types
    if (!avro.Type.isType(w, "union") || branches === undefined) return whole.call(this, w, opts)
    let readable = false
    const resolvers = branches.map((branch): BranchResolver => {
      try {
        const r = this.createResolver(branch, opts) as unknown as BranchResolver
        readable = true
        return r
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e)
        return {
          _read: () => {
            throw new Malformed(`written in a union branch ours cannot read: ${why}`)
          }
        }
      }
    })
    if (!readable) return whole.call(this, w, opts)
    return Object.freeze({
      _readerType: this,
      _read: (tap: { readLong(): number }) => {
        const r = resolvers[tap.readLong()]
        if (r === undefined) throw new Malformed(`union branch out of ${resolvers.length}`)
        return r._read(tap)
      }
    })
  }
  try {
    return reader.createResolver(writer)
  } finally {
    proto.createResolver = whole
  }
}

/** The Avro spec's logical types (1.12) and the types each annotates. */
const SPEC_LOGICAL_TYPES = new Map<unknown, ReadonlyArray<unknown>>([
  ["decimal", ["bytes", "fixed"]],
  ["big-decimal", ["bytes"]],
  ["uuid", ["string", "fixed"]],
  ["date", ["int"]],
  ["time-millis", ["int"]],
  ["time-micros", ["long"]],
  ["timestamp-millis", ["long"]],
  ["timestamp-micros", ["long"]],
  ["timestamp-nanos", ["long"]],
  ["local-timestamp-millis", ["long"]],
  ["local-timestamp-micros", ["long"]],
  ["local-timestamp-nanos", ["long"]],
  ["duration", ["fixed"]]
])

/**
 * Whether an annotation is one of the spec's, valid on its type. The spec has readers ignore any
 * other and read the underlying type: a "decimal" string is text, and resolving it to our bytes
 * read the text's UTF-8 as a price.
 */
const validLogicalType = (o: Record<string, unknown>): boolean => {
  if (SPEC_LOGICAL_TYPES.get(o.logicalType)?.includes(o.type) !== true) return false
  const scale = o.scale ?? 0
  return o.logicalType !== "decimal" || Number.isSafeInteger(o.precision) && (o.precision as number) > 0 &&
    Number.isSafeInteger(scale) && (scale as number) >= 0 && (scale as number) <= (o.precision as number)
}

/** A type's valid logical annotations, in order (a decimal's precision is left out: values are range-checked). */
const logicalTypesIn = (schema: unknown, out: Array<string> = []): Array<string> => {
  if (Array.isArray(schema)) for (const s of schema) logicalTypesIn(s, out)
  else if (schema !== null && typeof schema === "object") {
    const o = schema as Record<string, unknown>
    if (typeof o.logicalType === "string" && validLogicalType(o)) {
      out.push(o.logicalType === "decimal" ? `decimal scale ${String(o.scale ?? 0)}` : o.logicalType)
    }
    for (const k of ["type", "items", "values", "fields"]) logicalTypesIn(o[k], out)
  }
  return out
}

/** The full name of a record schema (a top-level one, so without an enclosing namespace). */
const fullNameOf = (schema: unknown): string | undefined => {
  const o = schema as { readonly name?: unknown; readonly namespace?: unknown } | null
  if (o === null || typeof o !== "object" || typeof o.name !== "string") return undefined
  return o.name.includes(".") || typeof o.namespace !== "string" || o.namespace === "" ? o.name : `${o.namespace}.${o.name}`
}

/**
 * Stripped of logical types, a decimal of another scale or a timestamp-millis would resolve to
 * ours and be read as another value: each writer field must carry its reader field's. A writer
 * that is a union is read through its branch named as ours (the spec's rule for a union writer).
 */
const checkLogicalTypes = (
  writer: object,
  reader: { readonly name: string; readonly namespace: string; readonly fields: ReadonlyArray<{ readonly name: string; readonly type: unknown }> }
) => {
  const records = Array.isArray(writer) ? writer.filter((b) => fullNameOf(b) === `${reader.namespace}.${reader.name}`) : [writer]
  for (const record of records) {
    const fields: unknown = (record as { fields?: unknown }).fields
    if (!Array.isArray(fields)) continue
    for (const r of reader.fields) {
      const w = fields.find((f) => (f as { name?: unknown } | null)?.name === r.name) as { type: unknown } | undefined
      if (w === undefined) continue
      const read = logicalTypesIn(r.type).join(", ") || "no logical type"
      // Branch by branch: a union's annotations taken together let ["string", decimal] pass as a
      // decimal, and the string branch's text was read as the unscaled price.
      for (const branch of Array.isArray(w.type) ? w.type.filter((b) => b !== "null" && (b as { type?: unknown } | null)?.type !== "null") : [w.type]) {
        const written = logicalTypesIn(branch).join(", ") || "no logical type"
        if (read !== written) throw new Error(`field ${r.name} is written as ${written}, read as ${read}`)
      }
    }
  }
}

const READER_SCHEMAS = { trade: tradeSchema, quote: quoteSchema, instrument: instrumentSchema } as const

interface Reader {
  readonly kind: MessageKind
  readonly resolver: avro.Resolver | undefined
  /** The writer type of a resolver, which scanWriter walks before avsc reads (else the reader's own type). */
  readonly writer?: avro.Type
}

/**
 * Walks a value of `type` with bounds, throwing Truncated or Malformed. avsc does not stop at the
 * end of its input: a block count of 10^8 in a 20-byte poison record kept it reading (or skipping
 * a field ours lacks) for a minute on the ingest thread, and larger counts for ever.
 */
const scanWriter = (r: AvroReader, type: avro.Type): void => {
  const t = type as avro.Type & {
    readonly fields?: ReadonlyArray<{ readonly type: avro.Type }>
    readonly itemsType?: avro.Type
    readonly valuesType?: avro.Type
    readonly types?: ReadonlyArray<avro.Type>
    readonly size?: number
  }
  switch (t.typeName) {
    case "null":
      return
    case "boolean":
      return r.skipFixed(1)
    case "int":
    case "long":
    case "abstract:long":
    case "enum":
      return void r.bigLong()
    case "float":
      return r.skipFixed(4)
    case "double":
      return r.skipFixed(8)
    case "string":
      return r.skipString()
    case "bytes":
      return r.skipBytes()
    case "fixed":
      return r.skipFixed(t.size!)
    case "array":
      for (let n = r.blockItems(); n !== 0; n = r.blockItems()) for (let i = 0; i < n; i++) scanWriter(r, t.itemsType!)
      return
    case "map":
      for (let n = r.blockItems(); n !== 0; n = r.blockItems()) {
        for (let i = 0; i < n; i++) {
          r.skipString()
          scanWriter(r, t.valuesType!)
        }
      }
      return
    case "record":
    case "error":
      for (const f of t.fields!) scanWriter(r, f.type)
      return
    default:
      if (t.types !== undefined) return scanWriter(r, t.types[r.branch(t.types.length)]!)
      throw new Malformed(`cannot scan Avro type ${t.typeName}`)
  }
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

  // Prices and sizes repeat (tick grids, round lots): rows ingestion buffers share one immutable
  // BigDecimal per value instead of holding one each, which keeps their live heap small. Keyed by
  // number within 2^53 (one key a value, whichever reader read it): a number hashes cheaper than a
  // bigint, and a value read as one needs no bigint at all.
  const decimals = new Map<Unscaled, BigDecimal.BigDecimal>()
  const decimal = (u: Unscaled): BigDecimal.BigDecimal => {
    const key = typeof u === "number" || !Number.isSafeInteger(Number(u)) ? u : Number(u)
    let d = decimals.get(key)
    if (d === undefined) {
      if (decimals.size >= DECIMAL_CACHE_ENTRIES) decimals.clear()
      d = decimalOf(BigInt(u))
      decimals.set(key, d)
    }
    return d
  }

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

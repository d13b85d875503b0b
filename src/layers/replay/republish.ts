/**
 * Republishing a replay to a Kafka topic for backtest consumers: each event as the producer
 * wrote it (Avro with Confluent framing, the k2-schema-id header and the run's
 * k2-correlation-id, key = symbol), sent chunk by chunk as the replay yields them, so a paced replay stays paced.
 * Trades and quotes share the topic; the schema id tells them apart. On a topic of one
 * partition the replay's total order is kept; on more, the order of each symbol.
 *
 * With a schema registry the ids are its own, registered per record kind (`republishCodec`).
 */
import { BigDecimal, Effect, Schema, Stream } from "effect"
import { makeWireCodec, type WireCodec } from "../../domain/avro/codec.ts"
import { checkCommon, type FieldProblem, nonNegative, positive, SIDES } from "../../domain/avro/domainChecks.ts"
import { quoteSchema, tradeSchema } from "../../domain/avro/schemas.ts"
import { toUnscaled } from "../../domain/decimal.ts"
import type { Side, Trade } from "../../domain/marketData.ts"
import { parseFixed } from "../../domain/query/exact.ts"
import { Header } from "../../domain/wire.ts"
import type { KafkaError } from "../../services/KafkaSource.ts"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import type { ReplayEvent } from "../../services/ReplayEngine.ts"
import { monotonicMillis } from "../elapsed.ts"
import { schemaIdFor } from "../kafka/schemaRegistry.ts"

/**
 * An event K2's wire format cannot carry: a decimal past decimal(18, 8), which replay reads exactly
 * from a column another engine widened, or null in a column it dropped (ADR-2). The encoder's
 * RangeError escaped as a defect.
 */
export class RepublishUnencodable extends Schema.TaggedError<RepublishUnencodable>()("RepublishUnencodable", {
  messageId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `event ${this.messageId} cannot be republished: ${this.reason}`
  }
}

export interface RepublishProgress {
  readonly events: number
  readonly trades: number
  readonly quotes: number
  readonly elapsedMs: number
  /** The last event acknowledged (in replay order: sends are one at a time): where a cut run got to. */
  readonly last?: ReplayEvent | undefined
}

export interface RepublishOptions {
  readonly topic: string
  readonly codec: WireCodec
  /** Called after every send. */
  readonly onProgress?: (progress: RepublishProgress) => Effect.Effect<void>
  /** The `k2-correlation-id` of this run's records; a new UUID by default. */
  readonly correlationId?: string
}

/**
 * Confluent's TopicRecordNameStrategy subject `<topic>-<namespace>.<name>`: the topic carries two
 * record schemas, and its one `<topic>-value` subject (TopicNameStrategy) can describe only one.
 */
const recordSubject = (topic: string, schema: { readonly namespace: string; readonly name: string }) =>
  `${topic}-${schema.namespace}.${schema.name}`

/**
 * A codec framing with the registry's ids for `topic`'s trade and quote subjects (looked up,
 * registering the repo's schemas there when needed: the embedded ids 1 and 2 mean nothing to a
 * registry's readers).
 */
export const republishCodec = Effect.fn("republishCodec")(function*(topic: string) {
  const tradeSchemaId = yield* schemaIdFor(recordSubject(topic, tradeSchema), tradeSchema)
  const quoteSchemaId = yield* schemaIdFor(recordSubject(topic, quoteSchema), quoteSchema)
  // No instruments are republished: no instrument id, so the embedded 3 cannot clash with the registry's.
  return makeWireCodec({ tradeSchemaId, quoteSchemaId, instrumentSchemaId: null })
})

/**
 * A value the producer's schema requires: null where another engine dropped K2's column (ADR-2),
 * which the record cannot carry (a RangeError, as the encoder's for a decimal past its range).
 */
const present = <A>(field: string, value: A | null): A => {
  if (value === null) throw new RangeError(`${field} is null (a column another engine dropped): the record requires it`)
  return value
}

/** Exact: the replay's decimal text to a BigDecimal at its own scale. */
const decimal = (field: string, text: string | null) => {
  const { unscaled, scale } = parseFixed(present(field, text))
  return BigDecimal.make(unscaled, scale)
}

/**
 * The checks ingestion decodes a record with (codec.ts): another engine's row can hold what K2 never
 * writes (a side `buy`, a negative sequence, a price of 0), which republished as is every K2 consumer
 * dead-letters, or a null in conditions or vendor_data, on which the encoder failed with a TypeError
 * (a defect). Refused as the encoder refuses a decimal past its range (a RangeError).
 */
const checked = (e: ReplayEvent, common: Parameters<typeof checkCommon>[0], decimals: ReadonlyArray<readonly [string, BigDecimal.BigDecimal]>) => {
  // Element and value required in K2's schema; optional in another engine's evolution of it (read alike).
  for (const [field, values] of [["conditions", e.conditions], ["vendor_data", Object.values(e.vendor_data)]] as const) {
    if (values.some((v) => v === null)) throw new RangeError(`${field} holds a null (made optional by another engine): the record requires strings`)
  }
  const problems: Array<FieldProblem> = []
  checkCommon(common, problems)
  const [idField, id] = e._tag === "Trade" ? ["trade_id", e.trade_id] : ["quote_id", e.quote_id]
  if (id === "") problems.push({ field: idField, problem: "must not be empty" })
  if (e._tag === "Trade" && !SIDES.has(e.side!)) problems.push({ field: "side", problem: "must be BUY, SELL, SELL_SHORT or UNKNOWN" })
  for (const [field, d] of decimals) {
    // Past decimal(18, 8): the encoder says so.
    const unscaled = toUnscaled(d)
    if (unscaled !== undefined) (e._tag === "Trade" ? positive : nonNegative)(field, unscaled, problems)
  }
  if (problems.length > 0) {
    const value = (field: string) => JSON.stringify((e as unknown as Record<string, unknown>)[field], (_, v) => typeof v === "bigint" ? String(v) : v)
    throw new RangeError(problems.map((p) => `${p.field} ${value(p.field)} ${p.problem}`).join("; "))
  }
}

/** One replayed event as the producer's record. */
const recordOf = (codec: WireCodec, topic: string, correlationId: string, e: ReplayEvent): ProducerRecord => {
  const common = {
    message_id: e.message_id,
    symbol: e.symbol,
    exchange: present("exchange", e.exchange),
    asset_class: present("asset_class", e.asset_class) as Trade["asset_class"],
    exchange_timestamp: e.exchange_timestamp,
    currency: present("currency", e.currency),
    conditions: e.conditions,
    source_sequence: e.source_sequence,
    vendor_data: e.vendor_data
  }
  let value: Uint8Array
  if (e._tag === "Trade") {
    const trade = {
      ...common,
      trade_id: present("trade_id", e.trade_id),
      price: decimal("price", e.price),
      quantity: decimal("quantity", e.quantity),
      side: present("side", e.side) as Side
    }
    checked(e, common, [["price", trade.price], ["quantity", trade.quantity]])
    value = codec.encodeTrade(trade)
  } else {
    const quote = {
      ...common,
      quote_id: present("quote_id", e.quote_id),
      bid_price: decimal("bid_price", e.bid_price),
      bid_size: decimal("bid_size", e.bid_size),
      ask_price: decimal("ask_price", e.ask_price),
      ask_size: decimal("ask_size", e.ask_size)
    }
    checked(e, common, [["bid_price", quote.bid_price], ["bid_size", quote.bid_size], ["ask_price", quote.ask_price], ["ask_size", quote.ask_size]])
    value = codec.encodeQuote(quote)
  }
  const schemaId = e._tag === "Trade" ? codec.tradeSchemaId : codec.quoteSchemaId
  return { topic, key: e.symbol, value, headers: { [Header.schemaId]: String(schemaId), [Header.correlationId]: correlationId } }
}

/** Runs the replay into the topic; the summary counts what the broker acknowledged. */
export const republish = <E, R>(
  events: Stream.Stream<ReplayEvent, E, R>,
  options: RepublishOptions
): Effect.Effect<RepublishProgress, E | KafkaError | RepublishUnencodable, R | KafkaSink> =>
  Effect.gen(function*() {
    const producer = yield* KafkaSink
    // Monotonic: by the wall clock, set back an hour, the replay had taken minus an hour.
    const started = yield* monotonicMillis
    const correlationId = options.correlationId ?? crypto.randomUUID()
    const progress: { -readonly [K in keyof RepublishProgress]: RepublishProgress[K] } = { events: 0, trades: 0, quotes: 0, elapsedMs: 0 }
    yield* Stream.runForEachArray(events, (chunk) =>
      Effect.gen(function*() {
        const records = new Array<ProducerRecord>(chunk.length)
        let trades = 0
        for (let i = 0; i < chunk.length; i++) {
          const e = chunk[i]!
          if (e._tag === "Trade") trades++
          try {
            records[i] = recordOf(options.codec, options.topic, correlationId, e)
          } catch (cause) {
            // The encoder refuses a decimal past decimal(18, 8), `present` a null: the run stops before this chunk's send.
            if (!(cause instanceof RangeError)) throw cause
            return yield* new RepublishUnencodable({ messageId: e.message_id, reason: cause.message })
          }
        }
        // A send once begun is waited for and counted, also when a signal interrupts the run: the
        // client does not take back what it handed the broker, so the summary would leave out
        // records the topic holds.
        yield* Effect.uninterruptible(Effect.gen(function*() {
          yield* producer.send(records)
          progress.events += chunk.length
          progress.trades += trades
          progress.quotes += chunk.length - trades
          progress.last = chunk.at(-1) ?? progress.last
          progress.elapsedMs = (yield* monotonicMillis) - started
          if (options.onProgress !== undefined) yield* options.onProgress({ ...progress })
        }))
      }))
    yield* producer.flush()
    progress.elapsedMs = (yield* monotonicMillis) - started
    return { ...progress }
  })

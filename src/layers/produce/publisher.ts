/**
 * Publishing a MarketFeed to Kafka: Avro with Confluent framing, key = symbol, one topic per
 * (asset class, data type, exchange), poison payloads as they are. Counts every event per
 * symbol and type so an ingested table can be reconciled against what was sent.
 */
import { Clock, Effect, Stream } from "effect"
import type { WireCodec } from "../../domain/avro/codec.ts"
import type { Instrument } from "../../domain/reference.ts"
import { type AssetClassName, Header, topicName } from "../../domain/wire.ts"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import { type FeedEvent, MarketFeed } from "../../services/MarketFeed.ts"

export interface Reconciliation {
  /** symbol → type → count published. */
  readonly published: Record<string, { trades: number; quotes: number; poison: number }>
  readonly totals: { trades: number; quotes: number; poison: number }
  readonly topics: ReadonlyArray<string>
  readonly instruments: ReadonlyArray<Instrument>
}

export interface PublishProgress {
  readonly events: number
  readonly elapsedMs: number
}

export interface PublishOptions {
  /** Records per producer send. */
  readonly batchSize?: number
  /** Called after every send. */
  readonly onProgress?: (progress: PublishProgress) => Effect.Effect<void>
}

export const publishFeed = Effect.fnUntraced(function*(codec: WireCodec, options: PublishOptions = {}) {
  const feed = yield* MarketFeed
  const producer = yield* KafkaSink
  const started = yield* Clock.currentTimeMillis
  const published: Reconciliation["published"] = {}
  const totals = { trades: 0, quotes: 0, poison: 0 }
  const topics = new Set<string>()
  const instruments: Array<Instrument> = []
  let events = 0

  const count = (symbol: string, type: "trades" | "quotes" | "poison") => {
    const entry = published[symbol] ?? (published[symbol] = { trades: 0, quotes: 0, poison: 0 })
    entry[type]++
    totals[type]++
  }

  const toRecord = (event: FeedEvent): ProducerRecord | undefined => {
    switch (event._tag) {
      case "Trade": {
        const t = event.trade
        const topic = topicName({ assetClass: t.asset_class, dataType: "trades", exchange: t.exchange })
        topics.add(topic)
        count(t.symbol, "trades")
        return {
          topic,
          key: t.symbol,
          value: codec.encodeTrade(t),
          headers: { [Header.schemaId]: String(codec.tradeSchemaId), [Header.correlationId]: t.message_id }
        }
      }
      case "Quote": {
        const q = event.quote
        const topic = topicName({ assetClass: q.asset_class, dataType: "quotes", exchange: q.exchange })
        topics.add(topic)
        count(q.symbol, "quotes")
        return {
          topic,
          key: q.symbol,
          value: codec.encodeQuote(q),
          headers: { [Header.schemaId]: String(codec.quoteSchemaId), [Header.correlationId]: q.message_id }
        }
      }
      case "Poison": {
        const topic = topicName({ assetClass: event.assetClass as AssetClassName, dataType: event.dataType, exchange: event.exchange })
        topics.add(topic)
        count(event.symbol, "poison")
        return { topic, key: event.symbol, value: event.payload, headers: { [Header.correlationId]: event.message_id } }
      }
      case "Instrument":
        instruments.push(event.instrument)
        return undefined
    }
  }

  const batchSize = options.batchSize ?? 2_000
  yield* feed.events().pipe(
    Stream.rechunk(batchSize),
    Stream.runForEachArray((chunk) =>
      Effect.gen(function*() {
        const records: Array<ProducerRecord> = []
        for (const event of chunk) {
          const record = toRecord(event)
          if (record !== undefined) records.push(record)
        }
        if (records.length > 0) yield* producer.send(records)
        events += chunk.length
        if (options.onProgress !== undefined) {
          yield* options.onProgress({ events, elapsedMs: (yield* Clock.currentTimeMillis) - started })
        }
      })
    )
  )
  yield* producer.flush()
  return { published, totals, topics: [...topics].sort(), instruments } satisfies Reconciliation
})

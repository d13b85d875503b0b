/**
 * What the catch-up-to-live tests (test/layers/replay/follow*.test.ts, kafka.test.ts) stand on: the replay engine
 * over a fresh warehouse and a memory broker, a topic with the empty tables the table part plays,
 * and trades sent to the topic as the producer sends them.
 */
import { Effect, Layer } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import type { TradeRow } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as ReplayLayer from "../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { KafkaAdmin, KafkaSink } from "../../src/services/KafkaSink.ts"
import { warehouseOptions } from "./warehouse.ts"

const codec = makeWireCodec()

/** A fresh warehouse (the table part replays whole snapshots) and memory broker (small batches) under the replay engine. */
export const catchUpStack = () => {
  const broker = new MemoryBroker()
  const layer = Layer.mergeAll(ReplayLayer.layer, layerMemory(broker, { maxBatchRecords: 64 })).pipe(
    Layer.provideMerge(Lakehouse.layer(warehouseOptions("sqlite")))
  )
  return { broker, layer }
}

/** Makes `topic` with `partitions`, and the trades and quotes tables, empty. */
export const topicAndTables = (topic: string, partitions: number) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions }])
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.ensureTable(tables.quotes)
  })

/** Sends `rows` to `topic`, keyed by symbol; returns them with the coordinates Kafka gave them. */
export const sendTrades = (topic: string, rows: ReadonlyArray<TradeRow>) =>
  Effect.gen(function*() {
    const sent = yield* (yield* KafkaSink).send(rows.map((r) => ({ topic, key: r.symbol, value: codec.encodeTrade(r) })))
    return rows.map((r, i): TradeRow => ({ ...r, kafka_topic: topic, kafka_partition: sent[i]!.partition, kafka_offset: sent[i]!.baseOffset! }))
  })

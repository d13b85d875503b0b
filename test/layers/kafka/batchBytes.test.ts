/**
 * Sends cut into requests under the broker's default max.message.bytes (batchBytes.ts): the
 * clients put a partition's records of a send in one batch, which the broker refuses whole when
 * it is larger (ADR-69).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BATCH_HEADER_BYTES, DEFAULT_MAX_MESSAGE_BYTES, recordBytes, splitUnder } from "../../../src/layers/kafka/batchBytes.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"

/** A value of `bytes` bytes starting with `i`. */
const numbered = (i: number, bytes: number) => {
  const value = new Uint8Array(Math.max(bytes, 4))
  new DataView(value.buffer).setUint32(0, i)
  return value
}
const numberOf = (value: Uint8Array) => new DataView(value.buffer, value.byteOffset).getUint32(0)

const record = (topic: string, i: number, valueBytes: number, timestamp?: number): ProducerRecord => ({
  topic,
  key: `K${i % 7}`,
  value: numbered(i, valueBytes),
  headers: { "k2-schema-id": "1", "k2-correlation-id": "run" },
  ...(timestamp === undefined ? {} : { timestamp })
})

describe("splitUnder", () => {
  it("a send that fits is not cut (nothing allocated)", () => {
    const records = Array.from({ length: 1000 }, (_, i) => record("t", i, 200))
    assert.isUndefined(splitUnder(records))
  })

  it("cuts in order into runs each no larger than the limit as one batch, whatever the timestamps", () => {
    const now = 1_700_000_000_000
    const records = Array.from({ length: 5000 }, (_, i) => record("t", i, 100 + (i * 37) % 900, i % 3 === 0 ? now - i * 86_400_000 : undefined))
    const runs = splitUnder(records)!
    assert.isAbove(runs.length, 1)
    assert.deepStrictEqual(runs.flat(), records)
    for (const run of runs) {
      // The broker's size of the run as one batch, every timestamp delta at its widest (the bound).
      const bytes = run.reduce((n, r, i) => n + recordBytes(r, i, 2 ** 41), BATCH_HEADER_BYTES)
      assert.isAtMost(bytes, DEFAULT_MAX_MESSAGE_BYTES)
    }
  })

  it("a record too large alone is a run by itself", () => {
    const records = [record("t", 0, 10), record("t", 1, DEFAULT_MAX_MESSAGE_BYTES), record("t", 2, 10)]
    assert.deepStrictEqual(splitUnder(records)?.map((run) => run.length), [1, 1, 1])
  })
})

describe("memory sink, a send larger than a batch may be", () => {
  it.effect("written whole over two partitions, each partition's order kept, every record's metadata", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      const records = Array.from({ length: 3000 }, (_, i) => record("big", i, 1000))
      const metadata = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "big", partitions: 2 }])
        return yield* (yield* KafkaSink).send(records)
      }).pipe(Effect.provide(layerMemory(broker)))
      assert.strictEqual(metadata.length, records.length)
      const logs = broker.topic("big").partitions
      assert.strictEqual(logs[0]!.length + logs[1]!.length, records.length)
      for (const log of logs) {
        const order = log.map((r) => numberOf(r.value!))
        assert.isTrue(order.every((n, i) => i === 0 || n > order[i - 1]!))
      }
    }))
})

describe("memory sink, a topic whose max.message.bytes is below the default (ADR-78)", () => {
  const lowered = { "max.message.bytes": "262144" }
  /** 4,096 records of ~190 bytes to one partition: ~0.8 MB as one batch, 3 times what the topic takes. */
  const replayed = (topic: string) => Array.from({ length: 4096 }, (_, i) => ({ ...record(topic, i, 150), partition: 0 }))
  const sendAll = (broker: MemoryBroker, setUp: Effect.Effect<void, unknown, KafkaAdmin>, records: ReadonlyArray<ProducerRecord>) =>
    Effect.gen(function*() {
      yield* setUp
      return yield* (yield* KafkaSink).send(records)
    }).pipe(Effect.provide(layerMemory(broker)))

  it.effect("a send is cut under the topic's own limit, read when topics are ensured: written whole, in order", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      const records = replayed("low")
      const ensure = Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "low", partitions: 1, config: lowered }])
      })
      const metadata = yield* sendAll(broker, ensure, records)
      assert.strictEqual(metadata.length, records.length)
      assert.deepStrictEqual(broker.topic("low").partitions[0]!.map((r) => numberOf(r.value!)), records.map((_, i) => i))
    }))

  it.effect("a topic set lower after it was ensured (not described since) is read at the sink's first write to it", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      broker.createTopic({ name: "later", partitions: 1 })
      broker.setConfig({ name: "later", partitions: 1, config: lowered })
      const metadata = yield* sendAll(broker, Effect.void, replayed("later"))
      assert.strictEqual(metadata.length, 4096)
    }))

  it.effect("a topic without the setting takes the broker's message.max.bytes when that is lower", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      broker.messageMaxBytes = 262_144
      broker.createTopic({ name: "plain", partitions: 1 })
      const metadata = yield* sendAll(broker, Effect.void, replayed("plain"))
      assert.strictEqual(metadata.length, 4096)
    }))
})

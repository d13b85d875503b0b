/**
 * Behaviour every Kafka layer (memory, kafkajs, platformatic) must have. Each test uses its own
 * topics and groups (unique names), so it runs against a shared real broker too.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, type Layer, Scope, Stream } from "effect"
import { type Compression, dlqTopicName, type TopicSpec, topicSpecs } from "../../../src/domain/wire.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import {
  type Consumer,
  type KafkaHeaderEntry,
  type KafkaRecord,
  KafkaSource,
  type PartitionBatch,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf
} from "../../../src/services/KafkaSource.ts"

type Kafka = KafkaSource | KafkaSink | KafkaAdmin

let counter = 0
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${process.pid}-${counter++}`

const SYMBOLS = ["BHP", "CBA", "CSL", "NAB", "WBC", "ANZ", "RIO", "WES"]

export const recordsFor = (topic: string, n: number, from = 0): Array<ProducerRecord> =>
  Array.from({ length: n }, (_, j) => {
    const i = from + j
    return {
      topic,
      key: SYMBOLS[i % SYMBOLS.length]!,
      value: new TextEncoder().encode(`v${i}`),
      headers: { "k2-correlation-id": `c${i}`, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
    }
  })

const text = (r: KafkaRecord) => new TextDecoder().decode(r.value!)

/** Everything delivered, by partition, as the stream emits it. */
interface Collected {
  readonly batches: Array<PartitionBatch>
  readonly byPartition: Map<TpKey, Array<KafkaRecord>>
  count(): number
}

export const collectInBackground = (consumer: Consumer) =>
  Effect.gen(function*() {
    const collected: Collected = {
      batches: [],
      byPartition: new Map(),
      count: () => collected.batches.reduce((n, b) => n + b.records.length, 0)
    }
    const fiber = yield* consumer.batches.pipe(
      Stream.runForEach((b) =>
        Effect.sync(() => {
          collected.batches.push(b)
          const key = tpKey(b.topic, b.partition)
          const list = collected.byPartition.get(key) ?? []
          list.push(...b.records)
          collected.byPartition.set(key, list)
        })
      ),
      Effect.forkScoped
    )
    return { collected, fiber }
  })

/**
 * The topic's description once it shows `expected` (partitions and config values): a broker
 * applies config changes from its metadata log a moment after the admin call answers.
 */
const describedAs = (topic: string, expected: { readonly partitions: number; readonly config: Readonly<Record<string, string>> }) =>
  Effect.gen(function*() {
    const admin = yield* KafkaAdmin
    const matches = (d: { readonly partitions: number; readonly config?: Readonly<Record<string, string>> }) =>
      d.partitions === expected.partitions && Object.entries(expected.config).every(([k, v]) => d.config?.[k] === v)
    for (let i = 0; i < 50; i++) {
      const [d] = yield* admin.describeTopics([topic])
      if (d !== undefined && matches(d)) return d
      yield* Effect.sleep(100)
    }
    const [d] = yield* admin.describeTopics([topic])
    assert.deepStrictEqual({ partitions: d!.partitions, config: Object.fromEntries(Object.keys(expected.config).map((k) => [k, d!.config?.[k]])) }, expected)
    return d!
  })

export const waitUntil = (what: string, predicate: () => boolean, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(20)
    }
  })

/** Records of each partition are contiguous from `from` and in order. */
const assertContiguous = (records: ReadonlyArray<KafkaRecord>, from: bigint) => {
  records.forEach((r, i) => assert.strictEqual(r.offset, from + BigInt(i)))
}

export interface ContractOptions {
  readonly timeoutMs?: number
  /** Deletes a partition's records below an offset, as retention does. */
  readonly deleteRecords: (topic: string, partition: number, before: number) => Effect.Effect<void>
  /** Sends n records to a partition in a committed transaction (brokers only: the memory log has no transactions). */
  readonly sendTransactional?: (topic: string, partition: number, n: number) => Effect.Effect<void>
  /** Sends `n` records to a partition in a transaction that is then aborted, `times` times (brokers only). */
  readonly sendAborted?: (topic: string, partition: number, n: number, times: number) => Effect.Effect<void>
}

export const kafkaContract = (name: string, layer: () => Layer.Layer<Kafka, unknown>, options: ContractOptions) =>
  describe(`Kafka contract: ${name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, Kafka | Scope.Scope>) =>
      Effect.provide(Effect.scoped(effect), layer())
    const timeout = options.timeoutMs ?? 60_000

    const makeTopic = (partitions: number) =>
      Effect.gen(function*() {
        const topic = unique("k2test")
        const admin = yield* KafkaAdmin
        yield* admin.ensureTopics([{ name: topic, partitions }])
        return topic
      })

    it.live("creates topics with DLQs idempotently, with partitions, retention and compression", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const exchange = unique("x").replace(/[^a-z0-9]/g, "").slice(0, 30)
        const specs = topicSpecs([{ assetClass: "equities", dataType: "trades", exchange, partitions: 3, retentionMs: 86_400_000, compression: "zstd" }])
        const topic = `market.equities.trades.${exchange}`
        assert.deepStrictEqual(specs.map((s) => s.name), [topic, dlqTopicName(topic)])
        const first = yield* admin.ensureTopics(specs)
        assert.deepStrictEqual([...first.created].sort(), [topic, `${topic}.dlq`].sort())
        const second = yield* admin.ensureTopics(specs)
        assert.deepStrictEqual(second.created, [])
        assert.deepStrictEqual([...second.existing].sort(), [topic, `${topic}.dlq`].sort())
        const grown = yield* admin.ensureTopics([{ ...specs[0]!, partitions: 4 }])
        assert.deepStrictEqual(grown.grown, [topic])
        const [d, dlq] = yield* admin.describeTopics([topic, `${topic}.dlq`])
        assert.strictEqual(d!.partitions, 4)
        assert.strictEqual(d!.config?.["retention.ms"], "86400000")
        assert.strictEqual(d!.config?.["compression.type"], "zstd")
        assert.strictEqual(dlq!.partitions, 1)
        assert.include(yield* admin.listTopics(), topic)
        yield* admin.deleteTopics([topic, `${topic}.dlq`])
      })), timeout)

    it.live("changing a spec's retention keeps the topic's other overrides (max.message.bytes, cleanup.policy)", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const topic = unique("k2test")
        const extra = { "max.message.bytes": "2000000", "cleanup.policy": "compact" }
        yield* admin.ensureTopics([{ name: topic, partitions: 1, retentionMs: 3_600_000, config: extra }])
        // A later run's spec names only retention: the other overrides are someone else's to keep.
        yield* admin.ensureTopics([{ name: topic, partitions: 1, retentionMs: 7_200_000, compression: "zstd" }])
        yield* describedAs(topic, {
          partitions: 1,
          config: { "retention.ms": "7200000", "compression.type": "zstd", "max.message.bytes": "2000000", "cleanup.policy": "compact" }
        })
        yield* admin.deleteTopics([topic])
      })), timeout)

    it.live("two processes ensuring the same new topic at once: each one's spec holds afterwards", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const topic = unique("k2test")
        // Another process (its own client) ensures the topic with more partitions and a compression.
        const other = Effect.gen(function*() {
          return yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 4, compression: "zstd" }])
        }).pipe(Effect.provide(layer()))
        const [mine, theirs] = yield* Effect.all([admin.ensureTopics([{ name: topic, partitions: 2, retentionMs: 3_600_000 }]), other], { concurrency: 2 })
        assert.strictEqual(mine.created.length + theirs.created.length, 1, "created once")
        yield* describedAs(topic, { partitions: 4, config: { "retention.ms": "3600000", "compression.type": "zstd" } })
        yield* admin.deleteTopics([topic])
      })), timeout)

    it.live("a spec with no partitions is rejected and creates nothing", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const topic = unique("k2test")
        const reason = yield* admin.ensureTopics([{ name: topic, partitions: 0 }]).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.strictEqual(reason._tag, "KafkaRejected")
        assert.isFalse(reason.retryable)
        assert.notInclude(yield* admin.listTopics(), topic)
      })), timeout)

    it.live("a topic name or config a broker cannot take is rejected (not retryable) and creates nothing; an existing topic's config is left", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const named = unique("k2test")
        const refusedSpecs: ReadonlyArray<TopicSpec> = [
          { name: "bad name!", partitions: 1 },
          { name: "a".repeat(250), partitions: 1 },
          { name: `${named}-r`, partitions: 1, retentionMs: -5 },
          { name: `${named}-c`, partitions: 1, compression: "brotli" as unknown as Compression },
          { name: `${named}-m`, partitions: 1, config: { "max.message.bytes": "lots" } }
        ]
        for (const spec of refusedSpecs) {
          const reason = yield* admin.ensureTopics([spec]).pipe(Effect.flip, Effect.map((e) => e.reason))
          assert.deepStrictEqual([reason._tag, reason.retryable], ["KafkaRejected", false], spec.name)
          assert.notInclude(yield* admin.listTopics(), spec.name)
        }
        yield* admin.ensureTopics([{ name: named, partitions: 1, retentionMs: 3_600_000 }])
        const altered = yield* admin.ensureTopics([{ name: named, partitions: 1, retentionMs: 1.5 }]).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.deepStrictEqual([altered._tag, altered.retryable], ["KafkaRejected", false])
        yield* describedAs(named, { partitions: 1, config: { "retention.ms": "3600000" } })
        // Kafka takes '.' and '_' as one in names: a second topic of the same form is refused.
        yield* admin.ensureTopics([{ name: `${named}.x`, partitions: 1 }])
        const twin = yield* admin.ensureTopics([{ name: `${named}_x`, partitions: 1 }]).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.deepStrictEqual([twin._tag, twin.retryable], ["KafkaRejected", false])
        assert.notInclude(yield* admin.listTopics(), `${named}_x`)
        yield* admin.deleteTopics([named, `${named}.x`])
      })), timeout)

    it.live("specs naming one topic twice are rejected, as a broker rejects such a request, and create nothing", () =>
      run(Effect.gen(function*() {
        const admin = yield* KafkaAdmin
        const topic = unique("k2test")
        const reason = yield* admin.ensureTopics([{ name: topic, partitions: 2 }, { name: topic, partitions: 2, retentionMs: 3_600_000 }]).pipe(
          Effect.flip,
          Effect.map((e) => e.reason)
        )
        assert.strictEqual(reason._tag, "KafkaRejected")
        assert.notInclude(yield* admin.listTopics(), topic)
      })), timeout)

    it.live("watermarks of a topic that does not exist fail UnknownTopic, naming it", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        const missing = unique("nope")
        const reason = yield* consumer.watermarks(missing).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.deepStrictEqual({ tag: reason._tag, topic: reason._tag === "UnknownTopic" ? reason.topic : undefined }, { tag: "UnknownTopic", topic: missing })
      })), timeout)

    it.live("deleting a topic that does not exist fails UnknownTopic, naming it (not an outage to wait out)", () =>
      run(Effect.gen(function*() {
        const missing = unique("nope")
        const reason = yield* (yield* KafkaAdmin).deleteTopics([missing]).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.deepStrictEqual({ tag: reason._tag, topic: reason._tag === "UnknownTopic" ? reason.topic : undefined }, { tag: "UnknownTopic", topic: missing })
      })), timeout)

    it.live("a send naming a partition the topic lacks is rejected, and none of its records is written", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        for (const partition of [2, -1]) {
          const reason = yield* sink.send([
            { topic, key: null, partition: 0, value: new Uint8Array([1]) },
            { topic, key: null, partition, value: new Uint8Array([2]) }
          ]).pipe(Effect.flip, Effect.map((e) => e.reason))
          assert.strictEqual(reason._tag, "KafkaRejected", `partition ${partition}`)
          assert.isFalse(reason.retryable)
        }
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        assert.deepStrictEqual((yield* consumer.watermarks(topic)).map((m) => m.high), [0n, 0n])
      })), timeout)

    it.live("a send is cut under its topic's own max.message.bytes, below the default (ADR-78); a record too large alone is refused", () =>
      run(Effect.gen(function*() {
        const topic = unique("k2test")
        yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 2, config: { "max.message.bytes": "10000" } }])
        const sink = yield* KafkaSink
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        // Each record alone fits by far (a batch of one is ~4.1 KB), two together too, three not:
        // before, the three to partition 0 went as one batch and were refused.
        const record = (partition: number, i: number, bytes = 4_000 + i): ProducerRecord => ({ topic, key: `k${i}`, partition, value: new Uint8Array(bytes) })
        yield* sink.send([record(0, 0), record(1, 1), record(0, 2), record(0, 3)])
        assert.deepStrictEqual((yield* consumer.watermarks(topic)).map((m) => m.high), [3n, 1n])
        // A record larger than the topic takes goes alone and is refused, the requests before it written.
        const reason = yield* sink.send([record(1, 4), record(0, 5, 12_000)]).pipe(Effect.flip, Effect.map((e) => e.reason))
        assert.strictEqual(reason._tag, "KafkaRejected")
        assert.isFalse(reason.retryable)
        assert.include(reason._tag === "KafkaRejected" ? reason.detail : "", "larger than the max message size the server will accept")
        assert.deepStrictEqual((yield* consumer.watermarks(topic)).map((m) => m.high), [3n, 2n])
      })), timeout)

    it.live("a send larger than the default max.message.bytes to one partition is written whole, in order (ADR-73)", () =>
      run(Effect.gen(function*() {
        const topic = unique("k2test")
        yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 1 }])
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        // 2,500 records of 1 KB: ~2.6 MB as one batch, 2.5 times what the broker takes.
        const records = Array.from({ length: 2_500 }, (_, i): ProducerRecord => ({ topic, key: `k${i % 13}`, value: new Uint8Array(1_000).fill(i % 256) }))
        yield* (yield* KafkaSink).send(records)
        assert.deepStrictEqual((yield* consumer.watermarks(topic)).map((m) => m.high), [2_500n])
      })), timeout)

    it.live("a send to a partition ensureTopics has just added lands there", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        // The producer has the topic's metadata (2 partitions) from this send.
        yield* sink.send([{ topic, key: null, partition: 1, value: new Uint8Array([1]) }])
        yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 3 }])
        const [meta] = yield* sink.send([{ topic, key: null, partition: 2, value: new Uint8Array([2]) }])
        assert.strictEqual(meta!.partition, 2)
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        assert.deepStrictEqual((yield* consumer.watermarks(topic)).map((m) => m.high), [0n, 1n, 1n])
      })), timeout)

    it.live("produces N and consumes exactly N, keyed by symbol, contiguous offsets, headers intact", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(3)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        const n = 600
        const before = Date.now()
        yield* sink.send(recordsFor(topic, n))
        yield* sink.flush()
        const after = Date.now()
        const consumer = yield* source.subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("all records", () => collected.count() >= n, timeout)
        yield* Effect.sleep(200)
        assert.strictEqual(collected.count(), n)
        const seen = new Set<string>()
        for (const [key, records] of collected.byPartition) {
          assertContiguous(records, 0n)
          for (const r of records) {
            seen.add(text(r))
            // Each record's own headers and create time, however the layer decodes them.
            assert.strictEqual(r.headers["k2-correlation-id"], `c${text(r).slice(1)}`)
            assert.strictEqual(r.headers.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            assert.isTrue(r.timestamp >= before && r.timestamp <= after, `timestamp ${r.timestamp} outside [${before}, ${after}]`)
            // One symbol, one partition.
            const other = [...collected.byPartition].find(([k, rs]) => k !== key && rs.some((x) => x.key === r.key))
            assert.isUndefined(other)
          }
        }
        assert.strictEqual(seen.size, n)
        const marks = yield* consumer.watermarks(topic)
        assert.strictEqual(marks.reduce((s, m) => s + m.high, 0n), BigInt(n))
        for (const b of collected.batches) assert.strictEqual(b.nextOffset, b.records.at(-1)!.offset + 1n)
      })), timeout)

    it.live("headers named like Object.prototype members arrive as sent", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        const sink = yield* KafkaSink
        // Parsed, so "__proto__" is an own key like the others (a literal's would set the prototype).
        const headers: Record<string, string> = JSON.parse("{\"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\"}")
        yield* sink.send([{ topic, key: "BHP", value: new TextEncoder().encode("v"), headers }])
        yield* sink.flush()
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the record", () => collected.count() >= 1, timeout)
        assert.deepStrictEqual(Object.entries(collected.batches[0]!.records[0]!.headers), Object.entries(headers))
      })), timeout)

    it.live("a key and header values that are not UTF-8 arrive byte for byte beside their text; UTF-8 ones as text alone", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        const sink = yield* KafkaSink
        const binaryKey = Uint8Array.of(0xff, 0x00, 0xc3, 0x28, 0x41)
        const binaryValue = Uint8Array.of(0x80, 0x81, 0xfe)
        const repeated: ReadonlyArray<KafkaHeaderEntry> = [["x-hop", Uint8Array.of(0x31)], ["b", Uint8Array.of(0x80)], ["x-hop", Uint8Array.of(0xff)]]
        yield* sink.send([
          { topic, key: "\ufffd", keyBytes: binaryKey, value: new TextEncoder().encode("v"), headers: { a: "text", b: "\ufffd" }, headerBytes: { b: binaryValue } },
          { topic, key: "BHP \ufffd", value: new TextEncoder().encode("w"), headers: { c: "caf\u00e9 \ufffd" } },
          // A dead letter of a record whose header names repeat: every header, in order (ADR-105).
          { topic, key: "k", value: null, headers: { "x-hop": "\ufffd", b: "\ufffd" }, headerList: repeated }
        ])
        yield* sink.flush()
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the records", () => collected.count() >= 3, timeout)
        const [binary, text, letter] = collected.batches.flatMap((b) => b.records)
        // kafkajs' producer takes headers as an object: a name's values go together, at its first place.
        const order = sink.client === "kafkajs" ? [0, 2, 1] : [0, 1, 2]
        assert.deepStrictEqual(letter!.headerList?.map(([k, v]) => [k, [...v]]), order.map((i) => [repeated[i]![0], [...repeated[i]![1]]]))
        assert.deepStrictEqual(letter!.headers, { "x-hop": "\ufffd", b: "\ufffd" })
        assert.deepStrictEqual([...letter!.headerBytes!["x-hop"]!], [0xff])
        assert.deepStrictEqual(binary!.keyBytes === undefined ? undefined : [...binary!.keyBytes], [...binaryKey])
        assert.strictEqual(binary!.headers.a, "text")
        assert.deepStrictEqual(Object.keys(binary!.headerBytes ?? {}), ["b"])
        assert.deepStrictEqual([...binary!.headerBytes!.b!], [...binaryValue])
        // U+FFFD written as UTF-8 is text: its record carries no bytes beside it, or exactly its text's.
        assert.strictEqual(text!.key, "BHP \ufffd")
        assert.strictEqual(text!.headers.c, "caf\u00e9 \ufffd")
        const utf8 = (t: string) => [...new TextEncoder().encode(t)]
        if (text!.keyBytes !== undefined) assert.deepStrictEqual([...text!.keyBytes], utf8("BHP \ufffd"))
        const c = text!.headerBytes?.c
        if (c !== undefined) assert.deepStrictEqual([...c], utf8("caf\u00e9 \ufffd"))
      })), timeout)

    it.live("a key and header values holding a lone surrogate arrive as their UTF-8 (U+FFFD), its bytes beside", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        const sink = yield* KafkaSink
        // UTF-8 has no lone surrogate: the clients encode it as U+FFFD (EF BF BD), as a broker then holds it.
        yield* sink.send([{ topic, key: "B\ud800", value: new TextEncoder().encode("v"), headers: { a: "x\udc00" } }])
        yield* sink.flush()
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the record", () => collected.count() >= 1, timeout)
        const record = collected.batches[0]!.records[0]!
        const utf8 = (t: string) => [...new TextEncoder().encode(t)]
        assert.strictEqual(record.key, "B\ufffd")
        assert.strictEqual(record.headers.a, "x\ufffd")
        assert.deepStrictEqual(record.keyBytes === undefined ? undefined : [...record.keyBytes], utf8("B\ufffd"))
        assert.deepStrictEqual(record.headerBytes?.a === undefined ? undefined : [...record.headerBytes.a], utf8("x\ufffd"))
      })), timeout)

    it.live("headers named like Object.prototype members go as their text beside a header sent as bytes", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        const sink = yield* KafkaSink
        const headers: Record<string, string> = JSON.parse("{\"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\", \"b\": \"\\ufffd\"}")
        yield* sink.send([{ topic, key: "k", value: new TextEncoder().encode("v"), headers, headerBytes: { b: Uint8Array.of(0x80) } }])
        yield* sink.flush()
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the record", () => collected.count() >= 1, timeout)
        const record = collected.batches[0]!.records[0]!
        assert.deepStrictEqual(Object.entries(record.headers), Object.entries(headers))
        assert.deepStrictEqual(Object.keys(record.headerBytes ?? {}), ["b"])
        assert.deepStrictEqual([...record.headerBytes!.b!], [0x80])
      })), timeout)

    it.live("onAssign seeks before delivery; commit, then a new member resumes from the committed offsets", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        yield* sink.send(Array.from({ length: 100 }, (_, i) => ({ topic, key: null, partition: i % 2, value: new Uint8Array([i]) })))
        const groupId = unique("g")
        const assigned: Array<ReadonlyArray<TopicPartition>> = []
        // First member: start partition 0 at 40 and partition 1 at 10.
        const scope1 = yield* Scope.make()
        const c1 = yield* source.subscribe({
          groupId,
          topics: [topic],
          onAssign: (tps) =>
            Effect.sync(() => {
              assigned.push(tps)
              return new Map([[tpKey(topic, 0), 40n], [tpKey(topic, 1), 10n]])
            })
        }).pipe(Scope.provide(scope1))
        const { collected } = yield* collectInBackground(c1).pipe(Scope.provide(scope1))
        yield* waitUntil("seeked records", () => collected.count() >= 10 + 40, timeout)
        assert.deepStrictEqual(assigned.flat().map(tpKeyOf).sort(), [tpKey(topic, 0), tpKey(topic, 1)])
        assertContiguous(collected.byPartition.get(tpKey(topic, 0))!, 40n)
        assertContiguous(collected.byPartition.get(tpKey(topic, 1))!, 10n)
        yield* c1.commit([{ topic, partition: 0, offset: 45n }, { topic, partition: 1, offset: 20n }])
        const committed = yield* c1.committed([{ topic, partition: 0 }, { topic, partition: 1 }])
        assert.strictEqual(committed.get(tpKey(topic, 0)), 45n)
        assert.strictEqual(committed.get(tpKey(topic, 1)), 20n)
        yield* Scope.close(scope1, Exit.void)
        // Second member, no onAssign: from the committed offsets.
        const c2 = yield* source.subscribe({ groupId, topics: [topic] })
        const second = yield* collectInBackground(c2)
        yield* waitUntil("resumed records", () => second.collected.count() >= 5 + 30, timeout)
        assertContiguous(second.collected.byPartition.get(tpKey(topic, 0))!, 45n)
        assertContiguous(second.collected.byPartition.get(tpKey(topic, 1))!, 20n)
      })), timeout)

    it.live("seek mid-stream restarts the partition exactly there; pause holds a partition until resume", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        yield* sink.send(Array.from({ length: 50 }, (_, i) => ({ topic, key: null, partition: 0, value: new Uint8Array([i]) })))
        const consumer = yield* source.subscribe({ groupId: unique("g"), topics: [topic] })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("first pass", () => collected.count() >= 50, timeout)
        yield* consumer.seek({ topic, partition: 0 }, 7n)
        yield* waitUntil("second pass", () => collected.count() >= 50 + 43, timeout)
        const p0 = collected.byPartition.get(tpKey(topic, 0))!
        assertContiguous(p0.slice(0, 50), 0n)
        assertContiguous(p0.slice(50), 7n)
        // Each batch says the position it continues from: the previous batch's end, or the seek's target.
        let position = 0n
        for (const b of collected.batches.filter((b) => b.topic === topic && b.partition === 0)) {
          if (b.firstOffset < position) position = 7n
          assert.strictEqual(b.fromOffset, position)
          position = b.nextOffset
        }
        // Pause partition 1, produce to both, only partition 0 moves.
        yield* consumer.pause([{ topic, partition: 1 }])
        yield* sink.send([
          { topic, key: null, partition: 1, value: new Uint8Array([1]) },
          { topic, key: null, partition: 0, value: new Uint8Array([2]) }
        ])
        yield* waitUntil("partition 0 record", () => collected.count() >= 94, timeout)
        yield* Effect.sleep(500)
        assert.isUndefined(collected.byPartition.get(tpKey(topic, 1)))
        yield* consumer.resume([{ topic, partition: 1 }])
        yield* waitUntil("partition 1 after resume", () => collected.byPartition.get(tpKey(topic, 1))?.length === 1, timeout)
        assertContiguous(collected.byPartition.get(tpKey(topic, 1))!, 0n)
        const exit = yield* Effect.exit(consumer.seek({ topic: "nope", partition: 0 }, 0n))
        assert.isTrue(Exit.isFailure(exit))
      })), timeout)

    it.live("a position the log no longer holds (deleted by retention) goes on from the log start, as a gap", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        yield* (yield* KafkaSink).send(recordsFor(topic, 30))
        yield* options.deleteRecords(topic, 0, 20)
        const consumer = yield* (yield* KafkaSource).subscribe({
          groupId: unique("g"),
          topics: [topic],
          onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 5n]]))
        })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the records after the deleted ones", () => collected.count() >= 10, timeout)
        assertContiguous(collected.byPartition.get(tpKey(topic, 0))!, 20n)
        // Delivered as continuing from 5: a reader keeping its own position sees no stale batch.
        assert.strictEqual(collected.batches[0]!.fromOffset, 5n)
        // It tells what was deleted before it was read (5 to 19): records lost, not a compaction gap.
        assert.strictEqual(collected.batches[0]!.logStartOffset, 20n)
        assert.isTrue(collected.batches.slice(1).every((b) => b.logStartOffset === undefined))
      })), timeout)

    it.live("a position beyond the log end restarts the partition at startFrom (earliest), like auto.offset.reset", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(1)
        yield* (yield* KafkaSink).send(recordsFor(topic, 20).map((r) => ({ ...r, partition: 0 })))
        const consumer = yield* (yield* KafkaSource).subscribe({
          groupId: unique("g"),
          topics: [topic],
          onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 1_000n]]))
        })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("records from the log start", () => collected.count() >= 20, timeout)
        assertContiguous(collected.byPartition.get(tpKey(topic, 0))!, 0n)
      })), timeout)

    it.live("a partition whose every record was deleted holds back no other, moves to the log start, and goes on when records come", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        const to = (partition: number, n: number) => recordsFor(topic, n).map((r) => ({ ...r, partition }))
        yield* sink.send(to(0, 30))
        yield* options.deleteRecords(topic, 0, 30)
        yield* sink.send(to(1, 10))
        const consumer = yield* (yield* KafkaSource).subscribe({
          groupId: unique("g"),
          topics: [topic],
          onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 0n], [tpKey(topic, 1), 0n]]))
        })
        const { collected } = yield* collectInBackground(consumer)
        yield* waitUntil("the other partition's records", () => collected.byPartition.get(tpKey(topic, 1))?.length === 10, timeout)
        assert.strictEqual(collected.byPartition.get(tpKey(topic, 0))?.length ?? 0, 0)
        // With no record to come, an empty batch moves the position to the log start, telling the
        // deleted offsets: waiting for a record, the partition would read as 30 behind for good.
        yield* waitUntil("the position at the log start", () => collected.batches.some((b) => b.partition === 0 && b.nextOffset === 30n), timeout)
        yield* sink.send(to(0, 5))
        yield* waitUntil("the records after the deleted ones", () => collected.byPartition.get(tpKey(topic, 0))?.length === 5, timeout)
        assertContiguous(collected.byPartition.get(tpKey(topic, 0))!, 30n)
        const first = collected.batches.find((b) => b.partition === 0)!
        assert.strictEqual(first.fromOffset, 0n)
        assert.strictEqual(first.logStartOffset, 30n)
        // Nothing was deleted under the other partition's position.
        assert.isTrue(collected.batches.filter((b) => b.partition === 1).every((b) => b.logStartOffset === undefined))
      })), timeout)

    const { sendTransactional } = options
    if (sendTransactional !== undefined) {
      // Offsets 0-2 the records, 3 their commit marker, the last offset of the log; a consumer placed on
      // the marker, where a reader that took the records resumes.
      const consumerAtMarker = Effect.fnUntraced(function*() {
        const topic = yield* makeTopic(1)
        yield* sendTransactional(topic, 0, 3)
        const consumer = yield* (yield* KafkaSource).subscribe({
          groupId: unique("g"),
          topics: [topic],
          onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 3n]]))
        })
        const { collected } = yield* collectInBackground(consumer)
        return { topic, consumer, collected }
      })

      it.live("records deleted up to a transaction's commit marker: the loss is told and the position passes the marker", () =>
        run(Effect.gen(function*() {
          const topic = yield* makeTopic(1)
          // Offsets 0-9 plain records, 10-12 a transaction's, 13 its commit marker; the log then starts at the marker.
          yield* (yield* KafkaSink).send(recordsFor(topic, 10).map((r) => ({ ...r, partition: 0 })))
          yield* sendTransactional(topic, 0, 3)
          yield* options.deleteRecords(topic, 0, 13)
          const consumer = yield* (yield* KafkaSource).subscribe({
            groupId: unique("g"),
            topics: [topic],
            onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 5n]]))
          })
          const { collected } = yield* collectInBackground(consumer)
          // Before (kafkajs), its reset to the log start fetched the marker alone and passed it for
          // offsets compacted away: no loss told, the position at 5 for good.
          yield* waitUntil("the position past the marker", () => collected.batches.some((b) => b.nextOffset === 14n), timeout)
          assert.strictEqual(collected.count(), 0)
          assert.strictEqual(collected.batches[0]!.fromOffset, 5n)
          assert.strictEqual(collected.batches[0]!.logStartOffset, 13n)
          assert.isTrue(collected.batches.slice(1).every((b) => b.logStartOffset === undefined))
        })), timeout)

      it.live("a position on a transaction's commit marker goes on past it when records come", () =>
        run(Effect.gen(function*() {
          const { topic, collected } = yield* consumerAtMarker()
          // Time for the client to fetch the marker alone, which holds nothing to deliver.
          yield* Effect.sleep("3 seconds")
          yield* (yield* KafkaSink).send(recordsFor(topic, 2).map((r) => ({ ...r, partition: 0 })))
          yield* waitUntil("the records after the marker", () => collected.count() >= 2, timeout)
          assertContiguous(collected.byPartition.get(tpKey(topic, 0))!, 4n)
          assert.strictEqual(collected.batches[0]!.fromOffset, 3n)
        })), timeout)

      it.live("a position on a commit marker that ends the log moves past it (an empty batch): no lag of 1 for good", () =>
        run(Effect.gen(function*() {
          const { topic, consumer, collected } = yield* consumerAtMarker()
          yield* waitUntil("the position past the marker", () => collected.batches.some((b) => b.nextOffset === 4n), timeout)
          const [moved] = collected.batches
          assert.deepStrictEqual(
            { records: moved!.records.length, from: moved!.fromOffset, first: moved!.firstOffset, next: moved!.nextOffset },
            { records: 0, from: 3n, first: 4n, next: 4n }
          )
          // What ingest reads as lag: the log end less the position.
          const [marks] = yield* consumer.watermarks(topic)
          assert.strictEqual(marks!.high - moved!.nextOffset, 0n)
        })), timeout)
    }

    const { sendAborted } = options
    if (sendAborted !== undefined && sendTransactional !== undefined) {
      it.live("an aborted transaction that ends the log moves the position past its marker, with no record", () =>
        run(Effect.gen(function*() {
          const topic = yield* makeTopic(1)
          const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
          const { collected } = yield* collectInBackground(consumer)
          // Offsets 0-2 committed records and 3 their marker; then, read live, 4-5 aborted and 6 the abort marker.
          yield* sendTransactional(topic, 0, 3)
          yield* waitUntil("the committed records", () => collected.count() === 3, timeout)
          yield* sendAborted(topic, 0, 2, 1)
          yield* waitUntil("the position past the abort marker", () => collected.batches.some((b) => b.nextOffset === 7n), timeout)
          assert.deepStrictEqual(collected.byPartition.get(tpKey(topic, 0))!.map((r) => r.offset), [0n, 1n, 2n])
          const [marks] = yield* consumer.watermarks(topic)
          assert.strictEqual(marks!.high, 7n)
          assert.strictEqual(collected.batches.at(-1)!.nextOffset, 7n)
          // Markers and aborted records are offsets with nothing to read, not records deleted.
          assert.isTrue(collected.batches.every((b) => b.logStartOffset === undefined))
        })), timeout)
    }

    if (sendAborted !== undefined) {
      it.live("records of aborted transactions are never delivered (two aborts of one producer in one fetch)", () =>
        run(Effect.gen(function*() {
          const topic = yield* makeTopic(1)
          // Offsets 0-2 and 4-6 aborted records, 3 and 7 their abort markers, 8-9 plain records.
          yield* sendAborted(topic, 0, 3, 2)
          yield* (yield* KafkaSink).send(recordsFor(topic, 2).map((r) => ({ ...r, partition: 0 })))
          const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
          const { collected } = yield* collectInBackground(consumer)
          yield* waitUntil("the plain records", () => collected.byPartition.get(tpKey(topic, 0))?.some((r) => r.offset === 9n) === true, timeout)
          yield* Effect.sleep(300)
          assert.deepStrictEqual(collected.byPartition.get(tpKey(topic, 0))!.map((r) => `${r.offset}:${text(r)}`), ["8:v0", "9:v1"])
          assert.isTrue(collected.batches.every((b) => b.logStartOffset === undefined))
        })), timeout)
    }

    it.live("closes promptly while its batch buffer is full and nobody reads it", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(3)
        yield* (yield* KafkaSink).send(recordsFor(topic, 300))
        const scope = yield* Scope.make()
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic], bufferBatches: 1 }).pipe(
          Scope.provide(scope)
        )
        // Nothing reads `batches`: the client fills the buffer and waits to hand over the next batch.
        yield* waitUntil("an assignment", () => Effect.runSync(consumer.assignment).length === 3, timeout)
        yield* Effect.sleep("2 seconds")
        const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutOption("20 seconds"))
        assert.isTrue(closed._tag === "Some", "the consumer closed within 20 s")
      })), timeout)

    it.live("partitions added to a subscribed topic are assigned and read within seconds, by a group of two", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(2)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        const admin = yield* KafkaAdmin
        const groupId = unique("g")
        const member = (label: string) => ({ groupId, topics: [topic], startFrom: "earliest" as const, clientId: label })
        const a = yield* source.subscribe(member("a"))
        const b = yield* source.subscribe(member("b"))
        const ca = yield* collectInBackground(a)
        const cb = yield* collectInBackground(b)
        const assigned = () => Effect.runSync(a.assignment).length + Effect.runSync(b.assignment).length
        yield* waitUntil("both partitions assigned", () => assigned() === 2, timeout)
        yield* admin.ensureTopics([{ name: topic, partitions: 4 }])
        yield* sink.send([0, 1, 2, 3].map((partition) => ({ topic, key: null, partition, value: new TextEncoder().encode(`p${partition}`) })))
        // A consumer group notices a grown topic on its next metadata refresh and rebalances (the
        // Java consumer within metadata.max.age.ms); records of the new partitions must not wait
        // for the next member to come or go.
        yield* waitUntil("the 4 records, the new partitions' included", () => ca.collected.count() + cb.collected.count() === 4, 20_000)
        assert.strictEqual(assigned(), 4)
      })), timeout)

    it.live("members of one group with different topics: each topic is assigned and read only among its subscribers", () =>
      run(Effect.gen(function*() {
        const only1 = yield* makeTopic(2)
        const both2 = yield* makeTopic(2)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        const groupId = unique("g")
        const member = (label: string, topics: Array<string>) => ({ groupId, topics, startFrom: "earliest" as const, clientId: label })
        // The first to join leads the group, and subscribes to one topic only (a rolling upgrade
        // adding a topic: the old process leads; the clients' own round robin dealt its topic to all).
        const a = yield* source.subscribe(member("a", [only1]))
        const ca = yield* collectInBackground(a)
        yield* waitUntil("a holds its topic", () => Effect.runSync(a.assignment).length === 2, timeout)
        const b = yield* source.subscribe(member("b", [only1, both2]))
        const cb = yield* collectInBackground(b)
        const topicsOf = (c: Consumer) => Effect.runSync(c.assignment).map((tp) => tp.topic)
        yield* waitUntil(
          "all 4 partitions assigned",
          () => topicsOf(a).length + topicsOf(b).length === 4 && topicsOf(b).filter((t) => t === both2).length === 2,
          timeout
        )
        assert.isTrue(topicsOf(a).every((t) => t === only1), `a holds only ${only1}: ${topicsOf(a).join(", ")}`)
        yield* sink.send([only1, both2].flatMap((topic) =>
          [0, 1].map((partition) => ({ topic, key: null, partition, value: new TextEncoder().encode(`${topic}/${partition}`) }))
        ))
        yield* waitUntil("the 4 records, each read once", () => ca.collected.count() + cb.collected.count() === 4, timeout)
        assert.isTrue(ca.collected.batches.every((x) => x.topic === only1))
      })), timeout)

    it.live("rebalances across two members: revoke, assign at the computed offset, no record lost or repeated", () =>
      run(Effect.gen(function*() {
        const topic = yield* makeTopic(4)
        const sink = yield* KafkaSink
        const source = yield* KafkaSource
        const groupId = unique("g")
        yield* sink.send(recordsFor(topic, 200))
        // Both members start every gained partition at the offset "the table" knows (here: a shared map
        // of what has been delivered), and forget revoked ones: a pipeline in miniature.
        const durable = new Map<TpKey, bigint>()
        const revokedA: Array<TpKey> = []
        const member = (label: string, revoked: Array<TpKey>) => ({
          groupId,
          topics: [topic],
          onAssign: (tps: ReadonlyArray<TopicPartition>) =>
            Effect.sync(() => new Map(tps.map((tp) => [tpKeyOf(tp), durable.get(tpKeyOf(tp)) ?? 0n] as const))),
          onRevoke: (tps: ReadonlyArray<TopicPartition>) => Effect.sync(() => revoked.push(...tps.map(tpKeyOf))),
          clientId: label
        })
        const all: Array<KafkaRecord & { tp: TpKey }> = []
        const consume = (consumer: Consumer) =>
          consumer.batches.pipe(
            Stream.runForEach((b) =>
              Effect.sync(() => {
                const key = tpKey(b.topic, b.partition)
                assert.strictEqual(b.firstOffset, durable.get(key) ?? 0n, `${key} continues from the durable offset`)
                for (const r of b.records) all.push({ ...r, tp: key })
                durable.set(key, b.nextOffset)
              })
            ),
            Effect.forkScoped
          )
        const a = yield* source.subscribe(member("a", revokedA))
        yield* consume(a)
        yield* waitUntil("A has everything", () => all.length >= 200, timeout)
        assert.strictEqual((yield* a.assignment).length, 4)
        // B joins: the partitions are split.
        const scopeB = yield* Scope.make()
        const revokedB: Array<TpKey> = []
        const b = yield* source.subscribe(member("b", revokedB)).pipe(Scope.provide(scopeB))
        yield* consume(b).pipe(Scope.provide(scopeB))
        yield* waitUntil("split", () => {
          const x = Effect.runSync(a.assignment).length
          const y = Effect.runSync(b.assignment).length
          return x + y === 4 && x > 0 && y > 0
        }, timeout)
        assert.isAbove(revokedA.length, 0)
        yield* sink.send(recordsFor(topic, 200, 200))
        yield* waitUntil("400 records", () => all.length >= 400, timeout)
        // B leaves: A gets everything back and continues where B stopped.
        yield* Scope.close(scopeB, Exit.void)
        yield* waitUntil("A has all partitions again", () => Effect.runSync(a.assignment).length === 4, timeout)
        assert.isAbove(revokedB.length, 0)
        yield* sink.send(recordsFor(topic, 100, 400))
        yield* waitUntil("500 records", () => all.length >= 500, timeout)
        yield* Effect.sleep(300)
        assert.strictEqual(all.length, 500)
        const values = new Set(all.map((r) => text(r)))
        assert.strictEqual(values.size, 500)
      })), timeout)
  })



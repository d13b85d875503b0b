import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { KafkaSource, type PartitionBatch, type TopicPartition, tpKey } from "../../../src/services/KafkaSource.ts"
import { collectInBackground, kafkaContract, recordsFor, unique, waitUntil } from "./kafkaContract.ts"

const contractBroker = new MemoryBroker()
kafkaContract("memory", () => layerMemory(contractBroker), {
  timeoutMs: 10_000,
  deleteRecords: (topic, partition, before) => Effect.sync(() => contractBroker.deleteRecords(topic, partition, before))
})

describe("memory Kafka, retention and backlog bound", () => {
  it.live("a producer far ahead of its consumer waits; committed records are released, offsets unchanged", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("bounded")
      const idle = unique("no-consumer")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 1 }, { name: idle, partitions: 1 }])
      const sink = yield* KafkaSink
      const source = yield* KafkaSource
      // No group consumes `idle`: sends past the bound do not wait.
      yield* sink.send(recordsFor(idle, 30))
      assert.strictEqual(broker.endOffset(idle, 0), 30)

      const consumer = yield* source.subscribe({ groupId: unique("g"), topics: [topic] })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("assignment", () => broker.groups.size > 0 && [...broker.groups.values()][0]!.members[0]!.assignment.length === 1)
      // A consumer that reads nothing: the backlog grows to the bound.
      yield* consumer.pause([{ topic, partition: 0 }])
      const producer = yield* Effect.forkChild(Effect.forEach([0, 5, 10, 15, 20, 25], (from) => sink.send(recordsFor(topic, 5, from))))
      // 15 sent, then the backlog (15) is over the bound (10): the fourth send waits.
      yield* Effect.sleep(300)
      assert.strictEqual(broker.endOffset(topic, 0), 15)
      assert.isUndefined(producer.pollUnsafe())

      // Reading (not committing yet) lets the producer on; only commits release records.
      yield* consumer.resume([{ topic, partition: 0 }])
      yield* Fiber.join(producer)
      yield* waitUntil("30 delivered", () => collected.count() >= 30)
      assert.strictEqual(broker.endOffset(topic, 0), 30)
      assert.strictEqual(broker.topic(topic).base[0], 0)
      assert.deepStrictEqual(collected.byPartition.get(tpKey(topic, 0))!.map((r) => r.offset), Array.from({ length: 30 }, (_, i) => BigInt(i)))

      yield* consumer.commit([{ topic, partition: 0, offset: 15n }])
      assert.strictEqual(broker.topic(topic).base[0], 15)
      assert.strictEqual(broker.topic(topic).partitions[0]![0]!.offset, 15n)
      const marks = yield* consumer.watermarks(topic)
      assert.deepStrictEqual(marks.map((m) => [m.low, m.high]), [[15n, 30n]])

      // A new group from the earliest offset starts at the low watermark: released records are gone.
      const scope = yield* Scope.make()
      const late = yield* source.subscribe({ groupId: unique("late"), topics: [topic] }).pipe(Scope.provide(scope))
      const { collected: again } = yield* collectInBackground(late).pipe(Scope.provide(scope))
      yield* waitUntil("15 re-read", () => again.count() >= 15)
      assert.deepStrictEqual(again.byPartition.get(tpKey(topic, 0))!.map((r) => r.offset), Array.from({ length: 15 }, (_, i) => BigInt(15 + i)))
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker, { releaseCommitted: true, maxBacklog: 10, maxBatchRecords: 5 })))
  })
})

describe("memory Kafka, batches buffered before a seek, pause or revoke", () => {
  const setup = (broker: MemoryBroker) =>
    Effect.gen(function*() {
      const topic = unique("buffered")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 2 }])
      const sink = yield* KafkaSink
      yield* sink.send(recordsFor(topic, 100).map((r) => ({ ...r, partition: 0 })))
      yield* sink.send(recordsFor(topic, 100).map((r) => ({ ...r, partition: 1 })))
      return { topic, broker }
    })

  it.live("a seek made while handling a batch discards the batches buffered behind it", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const { topic } = yield* setup(broker)
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic], bufferBatches: 16 })
      // Nobody reads yet: the buffer fills with several batches of each partition.
      yield* Effect.sleep(200)
      const seen: Array<PartitionBatch> = []
      let seeked = false
      yield* consumer.batches.pipe(
        Stream.runForEach((b) =>
          Effect.gen(function*() {
            seen.push(b)
            if (!seeked && b.partition === 0) {
              seeked = true
              yield* consumer.seek({ topic, partition: 0 }, 50n)
            }
          })
        ),
        Effect.forkScoped
      )
      yield* waitUntil("partition 0 read again from 50", () => seen.filter((b) => b.partition === 0).at(-1)?.nextOffset === 100n && seen.filter((b) => b.partition === 0).length > 1)
      yield* Effect.sleep(100)
      const p0 = seen.filter((b) => b.partition === 0)
      // The batch after the seek starts at its target: none fetched before it is delivered.
      assert.strictEqual(p0[1]!.fromOffset, 50n)
      assert.strictEqual(p0[1]!.firstOffset, 50n)
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker, { maxBatchRecords: 10 })))
  })

  it.live("no batch of a partition is delivered after its onRevoke", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const { topic } = yield* setup(broker)
      const source = yield* KafkaSource
      const groupId = unique("g")
      const revoked = new Set<string>()
      const a = yield* source.subscribe({
        groupId,
        topics: [topic],
        bufferBatches: 16,
        onRevoke: (tps) => Effect.sync(() => tps.forEach((tp) => revoked.add(tpKey(tp.topic, tp.partition))))
      })
      yield* Effect.sleep(200)
      const late: Array<PartitionBatch> = []
      let joined = false
      const scope = yield* Effect.scope
      yield* a.batches.pipe(
        Stream.runForEach((b) =>
          Effect.gen(function*() {
            if (revoked.has(tpKey(b.topic, b.partition))) late.push(b)
            if (!joined) {
              joined = true
              // A second member joins: A gives up one partition (onRevoke) before B gets it.
              yield* source.subscribe({ groupId, topics: [topic] }).pipe(Scope.provide(scope))
            }
          })
        ),
        Effect.forkScoped
      )
      yield* waitUntil("rebalanced", () => revoked.size === 1)
      yield* Effect.sleep(300)
      assert.deepStrictEqual(late.map((b) => `${b.partition}@${b.fromOffset}`), [])
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker, { maxBatchRecords: 10 })))
  })
})

describe("memory Kafka, retention with two groups", () => {
  it.live("a group that has committed nothing holds every record; once both committed, the slower's offset bounds the release", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("two-groups")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 1 }])
      yield* (yield* KafkaSink).send(recordsFor(topic, 30))
      const source = yield* KafkaSource
      const a = yield* source.subscribe({ groupId: unique("a"), topics: [topic] })
      const b = yield* source.subscribe({ groupId: unique("b"), topics: [topic] })
      assert.strictEqual((yield* a.assignment).length, 1)
      assert.strictEqual((yield* b.assignment).length, 1)
      // b has read nothing yet: a's commit must not take b's records away.
      yield* a.commit([{ topic, partition: 0, offset: 15n }])
      assert.strictEqual(broker.topic(topic).base[0], 0)
      yield* b.commit([{ topic, partition: 0, offset: 10n }])
      assert.strictEqual(broker.topic(topic).base[0], 10)
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker, { releaseCommitted: true })))
  })
})

describe("memory Kafka, batch size bound", () => {
  it.live("maxBatchRecords bounds each batch, and a bound of one still delivers every record", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("bounded-batches")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 1 }])
      yield* (yield* KafkaSink).send(recordsFor(topic, 3))
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("3 delivered", () => collected.count() >= 3, 5_000)
      assert.deepStrictEqual(collected.batches.map((b) => b.records.map((r) => r.offset)), [[0n], [1n], [2n]])
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker, { maxBatchRecords: 1 })))
  })
})

describe("memory Kafka, commits after a rebalance", () => {
  it.live("a member's commit of a partition it lost does not move the new owner's committed offset", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("moved")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 2 }])
      const source = yield* KafkaSource
      const groupId = unique("g")
      const a = yield* source.subscribe({ groupId, topics: [topic] })
      assert.strictEqual((yield* a.assignment).length, 2)
      // B joins: A gives up partition 1 (round robin over the sorted members).
      const b = yield* source.subscribe({ groupId, topics: [topic] })
      assert.deepStrictEqual((yield* b.assignment).map((tp) => tp.partition), [1])
      yield* b.commit([{ topic, partition: 1, offset: 10n }])
      // A, still a member, commits what it had read of partition 1 before the rebalance.
      yield* a.commit([{ topic, partition: 1, offset: 3n }, { topic, partition: 0, offset: 4n }])
      assert.strictEqual(broker.groups.get(groupId)!.committed.get(tpKey(topic, 1)), 10n)
      assert.strictEqual(broker.groups.get(groupId)!.committed.get(tpKey(topic, 0)), 4n)
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })
})

describe("memory Kafka, partitions added to a consumed topic", () => {
  it.live("the group rebalances and consumes the new partitions", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("grown")
      const admin = yield* KafkaAdmin
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
      const { collected } = yield* collectInBackground(consumer)
      const grown = yield* admin.ensureTopics([{ name: topic, partitions: 2 }])
      assert.deepStrictEqual(grown.grown, [topic])
      yield* (yield* KafkaSink).send(recordsFor(topic, 5).map((r) => ({ ...r, partition: 1 })))
      // A client sees the new partition count on its next metadata refresh and rejoins.
      yield* waitUntil("partition 1 consumed", () => (collected.byPartition.get(tpKey(topic, 1))?.length ?? 0) === 5, 3_000)
      assert.deepStrictEqual((yield* consumer.assignment).map((tp) => tp.partition).sort(), [0, 1])
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })
})

describe("memory Kafka, K2's default partition count against an existing topic", () => {
  it.effect("keeps the topic's partitions (its keys stay where they are); a count asked for grows it", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("theirs")
      const admin = yield* KafkaAdmin
      yield* admin.ensureTopics([{ name: topic, partitions: 3 }])
      const kept = yield* admin.ensureTopics([{ name: topic, partitions: 12, partitionsByDefault: true }])
      assert.deepStrictEqual(kept.grown, [])
      assert.strictEqual(broker.topic(topic).partitions.length, 3)
      const asked = yield* admin.ensureTopics([{ name: topic, partitions: 12 }])
      assert.deepStrictEqual(asked.grown, [topic])
      assert.strictEqual(broker.topic(topic).partitions.length, 12)
      const made = unique("ours")
      const created = yield* admin.ensureTopics([{ name: made, partitions: 12, partitionsByDefault: true }])
      assert.deepStrictEqual(created.created, [made])
      assert.strictEqual(broker.topic(made).partitions.length, 12)
    }).pipe(Effect.provide(layerMemory(broker)))
  })
})

describe("memory Kafka, a member leaving during a rebalance", () => {
  it.live("gets no partition (and no onAssign) from the rebalance that was under way when it left", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("leaving")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 2 }])
      const source = yield* KafkaSource
      const groupId = unique("g")
      const latch = yield* Deferred.make<void>()
      let armed = false
      let revoking = false
      const a = yield* source.subscribe({
        groupId,
        topics: [topic],
        onRevoke: () => armed ? Effect.andThen(Effect.sync(() => (revoking = true)), Deferred.await(latch)) : Effect.void
      })
      armed = true
      let assignedToB = 0
      const scopeB = yield* Scope.make()
      const joining = yield* source.subscribe({
        groupId,
        topics: [topic],
        onAssign: () => Effect.sync(() => assignedToB++).pipe(Effect.as(new Map()))
      }).pipe(Scope.provide(scopeB), Effect.forkChild)
      // A is giving up partition 1 for B (its onRevoke waits): B gives up before it is done.
      yield* waitUntil("A revoking", () => revoking)
      yield* Fiber.interrupt(joining)
      const closing = yield* Effect.forkChild(Scope.close(scopeB, Exit.void))
      yield* waitUntil("B left", () => broker.groups.get(groupId)!.members.length === 1)
      yield* Deferred.succeed(latch, undefined)
      yield* Fiber.join(closing)
      assert.strictEqual(assignedToB, 0)
      assert.deepStrictEqual((yield* a.assignment).map((tp) => tp.partition).sort(), [0, 1])
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })
})

describe("memory Kafka, a member leaving while the group rebalances for another", () => {
  it.live("its partitions go to no one before its onRevoke is done", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const topic = unique("handover")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 2 }])
      const source = yield* KafkaSource
      const groupId = unique("g")
      const events: Array<string> = []
      const latch = yield* Deferred.make<void>()
      const member = (label: string) => ({
        groupId,
        topics: [topic],
        onAssign: (tps: ReadonlyArray<TopicPartition>) =>
          Effect.sync(() => tps.forEach((tp) => events.push(`${label} assigned ${tp.partition}`))).pipe(Effect.as(new Map())),
        onRevoke: (tps: ReadonlyArray<TopicPartition>) =>
          Effect.gen(function*() {
            events.push(`${label} revoking ${tps.map((tp) => tp.partition)}`)
            if (label === "B") yield* Deferred.await(latch)
            events.push(`${label} revoked ${tps.map((tp) => tp.partition)}`)
          })
      })
      yield* source.subscribe(member("A"))
      const scopeB = yield* Scope.make()
      yield* source.subscribe(member("B")).pipe(Scope.provide(scopeB))
      events.length = 0
      // B leaves (its onRevoke of partition 1 waits), and C joins meanwhile.
      const leaving = yield* Effect.forkChild(Scope.close(scopeB, Exit.void))
      yield* waitUntil("B revoking", () => events.includes("B revoking 1"))
      const joining = yield* Effect.forkChild(source.subscribe(member("C")))
      yield* Effect.sleep(300)
      yield* Deferred.succeed(latch, undefined)
      yield* Fiber.join(leaving)
      yield* Fiber.join(joining)
      yield* waitUntil("C has partition 1", () => events.includes("C assigned 1"))
      assert.deepStrictEqual(events.filter((e) => e.endsWith("1")), ["B revoking 1", "B revoked 1", "C assigned 1"])
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })
})

describe("memory Kafka, deleting topics", () => {
  it.live("a deleted topic takes its groups' committed offsets along: created again, a group reads it from the start", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const topic = unique("recreated")
      const groupId = unique("g")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(recordsFor(topic, 5))
      yield* Effect.scoped(Effect.gen(function*() {
        const consumer = yield* (yield* KafkaSource).subscribe({ groupId, topics: [topic] })
        yield* consumer.commit([{ topic, partition: 0, offset: 5n }])
      }))
      yield* admin.deleteTopics([topic])
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(recordsFor(topic, 20))
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId, topics: [topic] })
      assert.strictEqual((yield* consumer.committed([{ topic, partition: 0 }])).get(tpKey(topic, 0)), null)
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("every record of the new topic", () => collected.count() >= 20, 5_000)
      assert.strictEqual(collected.byPartition.get(tpKey(topic, 0))![0]!.offset, 0n)
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })

  it.live("a topic deleted and created again while a group consumes it: revoked, then every partition of the new one read from its start", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const topic = unique("remade")
      const groupId = unique("g")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(recordsFor(topic, 10))
      const revoked: Array<string> = []
      const assigned: Array<string> = []
      const consumer = yield* (yield* KafkaSource).subscribe({
        groupId,
        topics: [topic],
        onAssign: (tps) => Effect.sync(() => assigned.push(...tps.map((tp) => tpKey(tp.topic, tp.partition)))).pipe(Effect.as(new Map())),
        onRevoke: (tps) => Effect.sync(() => revoked.push(...tps.map((tp) => tpKey(tp.topic, tp.partition))))
      })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("the old topic's records", () => collected.count() >= 10)
      yield* consumer.commit([{ topic, partition: 0, offset: 10n }])
      yield* admin.deleteTopics([topic])
      // A commit of the deleted topic (before the member gave it up) is refused, as a broker
      // answers UNKNOWN_TOPIC_OR_PARTITION: nothing is stored for the topic made again.
      const refused = yield* consumer.commit([{ topic, partition: 0, offset: 7n }]).pipe(Effect.flip)
      assert.strictEqual(refused.reason._tag, "UnknownTopic")
      assert.isUndefined(broker.groups.get(groupId)!.committed.get(tpKey(topic, 0)))
      // A client sees the topic gone from its metadata and gives its partitions up.
      yield* waitUntil("partition revoked", () => revoked.length === 1, 3_000)
      assert.deepStrictEqual(yield* consumer.assignment, [])
      yield* admin.ensureTopics([{ name: topic, partitions: 3 }])
      yield* sink.send([0, 1, 2].flatMap((partition) => recordsFor(topic, 15).map((r) => ({ ...r, partition }))))
      yield* waitUntil("every partition of the new topic", () => collected.count() >= 10 + 45, 3_000)
      assert.deepStrictEqual(assigned, [tpKey(topic, 0), tpKey(topic, 0), tpKey(topic, 1), tpKey(topic, 2)])
      const offsets = (p: number) => collected.byPartition.get(tpKey(topic, p))!.map((r) => Number(r.offset))
      assert.deepStrictEqual(offsets(0), [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 15 }, (_, i) => i)])
      assert.deepStrictEqual(offsets(1), Array.from({ length: 15 }, (_, i) => i))
      assert.deepStrictEqual(offsets(2), Array.from({ length: 15 }, (_, i) => i))
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })

  it.live("a topic deleted and at once created again is read from its start, not from the old topic's positions", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const topic = unique("remade")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(recordsFor(topic, 10))
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("the old topic's records", () => collected.count() >= 10)
      // Made again before the group has seen it go.
      yield* admin.deleteTopics([topic])
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(recordsFor(topic, 15))
      // An offset of the old log is not the new one's.
      yield* Effect.ignore(consumer.commit([{ topic, partition: 0, offset: 10n }]))
      assert.isNull((yield* consumer.committed([{ topic, partition: 0 }])).get(tpKey(topic, 0)))
      yield* waitUntil("the new topic's records", () => collected.count() >= 10 + 15, 3_000)
      const offsets = collected.byPartition.get(tpKey(topic, 0))!.map((r) => Number(r.offset))
      assert.deepStrictEqual(offsets.slice(10), Array.from({ length: 15 }, (_, i) => i))
    }).pipe(Effect.scoped, Effect.provide(layerMemory(broker)))
  })

  it.effect("deleting a topic that does not exist fails UnknownTopic, as a broker answers", () =>
    Effect.gen(function*() {
      const reason = yield* (yield* KafkaAdmin).deleteTopics(["nope"]).pipe(Effect.flip, Effect.map((e) => e.reason))
      assert.strictEqual(reason._tag, "UnknownTopic")
    }).pipe(Effect.provide(layerMemory())))
})

describe("MemoryBroker, a send's batches held to max.message.bytes (ADR-69)", () => {
  it("each partition's batch of a send is held to its topic's limit (else the broker's): one too large is refused, the others written", () => {
    const broker = new MemoryBroker()
    broker.messageMaxBytes = 10_000
    broker.createTopic({ name: "t", partitions: 2 })
    // Each record alone fits (a batch of one is ~4.1 KB), two together too, three not.
    const record = (partition: number, i: number) => ({ topic: "t", key: `k${i}`, partition, value: new Uint8Array(4_000 + i) })
    assert.throws(() => broker.produce([record(0, 0), record(1, 1), record(0, 2), record(0, 3)]), /MESSAGE_TOO_LARGE.*3 records to t-0; its max.message.bytes is 10000/)
    assert.deepStrictEqual([broker.endOffset("t", 0), broker.endOffset("t", 1)], [0, 1])
    broker.setConfig({ name: "t", partitions: 2, config: { "max.message.bytes": "20000" } })
    broker.produce([record(0, 4), record(0, 5), record(0, 6)])
    assert.strictEqual(broker.endOffset("t", 0), 3)
  })
})

/**
 * The platformatic layer's producer and admin paths without a broker: the client classes' methods
 * that reach the network are replaced on their prototypes for the length of a test (the layer
 * constructs its clients from the same module), and restored after it.
 */
import { Admin, Producer } from "@platformatic/kafka"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { partitionForKey } from "../../../src/layers/kafka/partitioner.ts"
import { layerPlatformatic } from "../../../src/layers/kafka/platformatic.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { prototypeStubs } from "../../support/prototypeStubs.ts"

const replace = prototypeStubs()

/** Port 1 on loopback: nothing of these tests may reach it (every network method is replaced). */
const layer = () => layerPlatformatic({ brokers: ["127.0.0.1:1"] })

const led = (id: string, n: number) => ({
  id,
  partitionsCount: n,
  partitions: Array.from({ length: n }, (_, i) => ({ leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [], partition: i }))
})

describe("platformatic layer, producer", () => {
  it("headers named like Object.prototype members are sent as their text beside headers sent as bytes", async () => {
    const sent: Array<{ headers?: Map<Buffer, Buffer> }> = []
    replace(Producer.prototype, "send", async function(options: { messages: Array<{ topic: string; headers?: Map<Buffer, Buffer> }> }) {
      sent.push(...options.messages)
      return { offsets: options.messages.map((m) => ({ topic: m.topic, partition: 0, offset: 0n })) }
    } as never)
    const headers: Record<string, string> = JSON.parse("{\"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\", \"b\": \"\\ufffd\"}")
    const exit = await Effect.runPromise(Effect.exit(Effect.gen(function*() {
      const sink = yield* KafkaSink
      return yield* sink.send([{ topic: "t", key: "k", value: Uint8Array.of(1), headers, headerBytes: { b: Uint8Array.of(0x80, 0xfe) } }])
    }).pipe(Effect.provide(layer()))))
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
    assert.strictEqual(sent.length, 1)
    assert.deepStrictEqual(
      [...sent[0]!.headers!].map(([k, v]) => [k.toString("utf8"), [...v]]),
      [["__proto__", [...Buffer.from("p")]], ["constructor", [...Buffer.from("c")]], ["toString", [...Buffer.from("t")]], ["b", [0x80, 0xfe]]]
    )
  })
  it("a long record key or header name is not kept after its send (a dead letter carries a poison record's own)", async () => {
    const sent: Array<{ key?: Buffer; headers?: Map<Buffer, Buffer> }> = []
    replace(Producer.prototype, "send", async function(options: { messages: Array<{ topic: string; key?: Buffer; headers?: Map<Buffer, Buffer> }> }) {
      sent.push(...options.messages)
      return { offsets: options.messages.map((m) => ({ topic: m.topic, partition: 0, offset: 0n })) }
    } as never)
    // Distinct 64 KiB keys and header names, as poison records may carry: each kept would hold its bytes until 100,000 of them.
    const long = (i: number) => `${i}:`.padEnd(64 * 1024, "x")
    const record = (i: number) => ({ topic: "t.dlq", key: long(i), value: Uint8Array.of(1), headers: { [long(i)]: "v" } })
    const exit = await Effect.runPromise(Effect.exit(Effect.gen(function*() {
      const sink = yield* KafkaSink
      for (let i = 0; i < 20; i++) yield* sink.send([record(i)])
      yield* sink.send([record(0)])
    }).pipe(Effect.provide(layer()))))
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
    const [first, again] = [sent[0]!, sent[20]!]
    assert.isTrue(first.key!.equals(again.key!))
    assert.notStrictEqual(first.key, again.key, "the first long key was still held after 19 other sends")
    assert.notStrictEqual([...first.headers!.keys()][0], [...again.headers!.keys()][0], "the first long header name was still held")
  })
})

describe("platformatic layer, producer records", () => {
  it("a key given as bytes goes out as those bytes; an offset the broker does not give (-1) is none; keys are placed as Java's partitioner places them", async () => {
    const sent: Array<{ key?: Buffer }> = []
    let partitioner: ((message: unknown, key: Buffer) => number) | undefined
    replace(Producer.prototype, "send", async function(this: object, options: { messages: Array<{ topic: string; key?: Buffer }> }) {
      sent.push(...options.messages)
      const own = Object.getOwnPropertySymbols(this).find((s) => s.description === "plt.kafka.base.options")
      partitioner = (this as Record<symbol, { partitioner?: typeof partitioner }>)[own!]?.partitioner
      return { offsets: options.messages.map((m) => ({ topic: m.topic, partition: 0, offset: -1n })) }
    } as never)
    const binaryKey = Uint8Array.of(0xff, 0x00, 0xc3)
    const result = await Effect.runPromise(Effect.gen(function*() {
      return yield* (yield* KafkaSink).send([{ topic: "t", key: "\ufffd\u0000\ufffd", keyBytes: binaryKey, value: Uint8Array.of(1) }])
    }).pipe(Effect.provide(layer())))
    assert.deepStrictEqual([...sent[0]!.key!], [...binaryKey])
    assert.deepStrictEqual(result.map((m) => m.baseOffset), [null])
    // The producer takes the partitioner's number modulo the partition count.
    for (const key of ["BHP", "CBA", "NAB", "WBC", "BTC-USD", "ABCDE"]) {
      assert.strictEqual(partitioner!(undefined, Buffer.from(key)) % 12, partitionForKey(key, 12), key)
    }
  })
})

describe("platformatic layer, explicit partitions", () => {
  it("a record naming a partition the topic lacks is refused and nothing is sent; the last partition is taken", async () => {
    const sent: Array<{ partition?: number }> = []
    replace(Producer.prototype, "metadata", (async () => ({ brokers: new Map(), topics: new Map([["t", led("id-t", 2)]]) })) as never)
    replace(Producer.prototype, "send", async function(options: { messages: Array<{ topic: string; partition?: number }> }) {
      sent.push(...options.messages)
      return { offsets: options.messages.map((m) => ({ topic: m.topic, partition: m.partition ?? 0, offset: 0n })) }
    } as never)
    const send = (partition: number) =>
      Effect.runPromise(Effect.exit(Effect.gen(function*() {
        return yield* (yield* KafkaSink).send([{ topic: "t", key: null, partition, value: Uint8Array.of(1) }])
      }).pipe(Effect.provide(layer()))))
    const beyond = await send(2)
    assert.isTrue(Exit.isFailure(beyond))
    assert.strictEqual(sent.length, 0)
    assert.isTrue(Exit.isSuccess(await send(1)))
    assert.deepStrictEqual(sent.map((m) => m.partition), [1])
  })
})

describe("platformatic layer, ensureTopics", () => {
  it("raising a topic's partitions returns once the metadata shows the new partitions led, not on the old count", async () => {
    let created = false
    let afterCreate = 0
    /** The count the metadata showed last. */
    let shown = 0
    replace(Admin.prototype, "listTopics", (async () => ["t"]) as never)
    replace(Admin.prototype, "describeConfigs", (async () => [{ resourceName: "t", configs: [] }]) as never)
    replace(Admin.prototype, "createPartitions", (async () => {
      created = true
    }) as never)
    replace(Admin.prototype, "metadata", (async () => {
      // The broker's metadata shows the new partitions a few polls after CreatePartitions answered.
      shown = created && ++afterCreate > 3 ? 4 : 2
      return { brokers: new Map(), topics: new Map([["t", led("id-t", shown)]]) }
    }) as never)
    const result = await Effect.runPromise(Effect.gen(function*() {
      return yield* (yield* KafkaAdmin).ensureTopics([{ name: "t", partitions: 4 }])
    }).pipe(Effect.provide(layer())))
    assert.deepStrictEqual(result.grown, ["t"])
    assert.strictEqual(shown, 4, "ensureTopics returned while the metadata still showed 2 partitions")
  })
})

describe("platformatic layer, the first contact cut short", () => {
  it("listing the topics under way is interrupted at once, not when the admin's connect times out; the admin is closed", async () => {
    // A broker address that drops connects: the listing waits, and closing waits for the connect timeout.
    let connectTimesOut: (() => void) | undefined
    let closes = 0
    replace(Admin.prototype, "listTopics", (() => new Promise(() => {})) as never)
    replace(Admin.prototype, "close", (() => (closes++, new Promise<void>((resolve) => void (connectTimesOut = resolve)))) as never)
    const fiber = Effect.runFork(Effect.gen(function*() {
      return yield* (yield* KafkaAdmin).listTopics()
    }).pipe(Effect.provide(layer())))
    const settled = () => new Promise<void>((resolve) => setTimeout(resolve, 20))
    await settled()
    let interrupted = false
    void Effect.runPromise(Fiber.interrupt(fiber)).then(() => void (interrupted = true))
    await settled()
    const interruptedMeanwhile = interrupted
    connectTimesOut?.()
    await settled()
    assert.isTrue(interruptedMeanwhile, "the interruption waited for the admin's close")
    assert.strictEqual(closes, 1)
  })
})

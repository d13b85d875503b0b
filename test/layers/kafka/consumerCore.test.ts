/** The consumer core's position rules with a scripted client (no broker). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { type ConsumerDriver, makeConsumerCore } from "../../../src/layers/kafka/consumerCore.ts"
import { kafkaError, KafkaRejected, type KafkaRecord, type TopicPartition } from "../../../src/services/KafkaSource.ts"

const tp: TopicPartition = { topic: "t", partition: 0 }
const record = (offset: bigint): KafkaRecord => ({ offset, key: null, value: new Uint8Array([1]), headers: {}, timestamp: 0 })

const batch = (from: bigint, n: number) => Array.from({ length: n }, (_, i) => record(from + BigInt(i)))

interface Marks {
  readonly low: bigint
  readonly high: bigint
}

/**
 * A client of t:0 whose watermarks are `marks`, read at each ask (a test may move them), the first
 * `failWatermarks` asks failing; it records the seeks it is told and counts the asks.
 */
const scripted = (marks: Marks | (() => Marks) = { low: 20n, high: 40n }, failWatermarks = 0) => {
  const seeks: Array<bigint> = []
  let asked = 0
  let failures = failWatermarks
  const driver: ConsumerDriver = {
    seek: (_, offset) => void seeks.push(offset),
    pause: () => undefined,
    resume: () => undefined,
    committed: async () => new Map(),
    watermarks: async () => {
      asked++
      if (failures-- > 0) throw new Error("admin unreachable")
      return [{ topic: "t", partition: 0, ...(typeof marks === "function" ? marks() : marks) }]
    },
    commit: async () => undefined
  }
  return { driver, seeks, asked: () => asked }
}

const errorOf = (operation: string, cause: unknown) => kafkaError(new KafkaRejected({ operation, detail: String(cause) }))

describe("consumer core", () => {
  it.effect("a batch from beyond the position that cannot be judged is fetched again from the position, then judged", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted({ low: 20n, high: 40n }, 1)
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 5n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      assert.deepStrictEqual(seeks, [5n])
      // The client reset itself to the log start (20) below which retention deleted everything.
      const batch = [record(20n), record(21n)]
      yield* Effect.promise(() => core.offer(tp, 20n, batch, 22n, 40n))
      assert.deepStrictEqual(seeks, [5n, 5n], "undecided: asked to fetch from 5 again")
      yield* Effect.promise(() => core.offer(tp, 20n, batch, 22n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 5n)
      assert.strictEqual(delivered[0]!.firstOffset, 20n)
    }))
})

describe("consumer core, assignments in quick succession", () => {
  it.effect("a partition lost and gained again while its first onAssign ran starts where the latest onAssign says", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      const answers: Array<(offset: bigint) => void> = []
      const core = yield* makeConsumerCore({
        groupId: "g",
        topics: ["t"],
        onAssign: () => Effect.callback<ReadonlyMap<string, bigint>>((resume) => {
          answers.push((o) => resume(Effect.succeed(new Map([["t:0", o]]))))
        })
      }, driver, errorOf)
      // Three rebalances before the first onAssign answers (clients do not wait for the previous one).
      const first = core.assign([tp])
      void core.assign([])
      const third = core.assign([tp])
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      answers[0]!(5n)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      answers[1]!(50n)
      yield* Effect.promise(() => Promise.all([first, third]))
      assert.strictEqual(core.fetchPosition("t:0"), 50n)
      assert.strictEqual(seeks.at(-1), 50n)
    }))
})

describe("consumer core, a position below the log start", () => {
  it.effect("a client that reset to the log end (auto.offset.reset latest) is sent back to the log start, not dropped for ever", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], startFrom: "latest", onAssign: () => Effect.succeed(new Map([["t:0", 5n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      assert.deepStrictEqual(seeks, [5n])
      // 5 is below the log start (20): kafkajs without fromBeginning resets to the end (40).
      // Records 20..39 still exist: going on from 40 would skip them, dropping stalls the partition.
      yield* Effect.promise(() => core.offer(tp, 40n, [record(40n), record(41n)], 42n, 42n))
      assert.deepStrictEqual(seeks, [5n, 20n], "asked to fetch from the log start")
      yield* Effect.promise(() => core.offer(tp, 20n, [record(20n), record(21n)], 22n, 42n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 5n)
      assert.strictEqual(delivered[0]!.firstOffset, 20n)
    }))
})

describe("consumer core, a seek while onAssign runs", () => {
  it.effect("a seek made before the start offset is known wins over onAssign's older answer", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      let answer: ((offset: bigint) => void) | undefined
      const core = yield* makeConsumerCore({
        groupId: "g",
        topics: ["t"],
        onAssign: () => Effect.callback<ReadonlyMap<string, bigint>>((resume) => {
          answer = (o) => resume(Effect.succeed(new Map([["t:0", o]])))
        })
      }, driver, errorOf)
      const assigned = core.assign([tp])
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      // The partition is assigned (its onAssign runs): the user seeks it.
      yield* core.consumer.seek(tp, 30n)
      answer!(5n)
      yield* Effect.promise(() => assigned)
      assert.strictEqual(core.fetchPosition("t:0"), 30n)
      assert.strictEqual(seeks.at(-1), 30n)
      yield* Effect.promise(() => core.offer(tp, 30n, [record(30n)], 31n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.firstOffset, 30n)
    }))
})

describe("consumer core, a partition revoked and assigned again", () => {
  it.effect("a batch buffered before the revoke is not delivered after the partition comes back", () =>
    Effect.gen(function*() {
      const { driver } = scripted()
      const starts = [5n, 100n]
      const core = yield* makeConsumerCore({
        groupId: "g",
        topics: ["t"],
        onAssign: () => Effect.succeed(new Map([["t:0", starts.shift()!]]))
      }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      // Fetched and buffered, not yet taken by the reader.
      yield* Effect.promise(() => core.offer(tp, 5n, [record(5n), record(6n)], 7n, 40n))
      yield* Effect.promise(() => core.assign([]))
      // Back again: onAssign says 100 (the table moved on meanwhile).
      yield* Effect.promise(() => core.assign([tp]))
      yield* Effect.promise(() => core.offer(tp, 100n, [record(100n)], 101n, 140n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 100n)
      assert.strictEqual(delivered[0]!.firstOffset, 100n)
    }))
})

describe("consumer core, a start that cannot be found", () => {
  it.effect("a gained partition the client reports no offsets for (metadata older than the partition) fails the consumer, retryable", () =>
    Effect.gen(function*() {
      // No onAssign, no committed offset, and watermarks that know partition 0 only.
      const { driver, seeks } = scripted()
      const core = yield* makeConsumerCore<never, never>({ groupId: "g", topics: ["t"] }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp, { topic: "t", partition: 1 }]))
      assert.isTrue(seeks.every((o) => typeof o === "bigint"), `seeks ${seeks.map(String)}`)
      const error = yield* core.consumer.batches.pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(error.reason._tag, "KafkaUnavailable")
      assert.isTrue(error.retryable)
    }))
})

describe("consumer core, a negative offset", () => {
  // kafkajs takes -1 and -2 for "latest" and "earliest", a broker answers OFFSET_OUT_OF_RANGE and
  // the memory log read it as its start: refused, every layer says the same.
  it.effect("a seek to a negative offset is refused, the position unchanged", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 5n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      const error = yield* core.consumer.seek(tp, -1n).pipe(Effect.flip)
      assert.strictEqual(error.reason._tag, "KafkaRejected")
      assert.deepStrictEqual(seeks, [5n])
      assert.strictEqual(core.fetchPosition("t:0"), 5n)
    }))

  it.effect("onAssign answering a negative offset fails the consumer, nothing fetched", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", -1n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      assert.deepStrictEqual(seeks, [])
      const error = yield* core.consumer.batches.pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(error.reason._tag, "KafkaRejected")
      assert.include(error.message, "t:0")
    }))
})

describe("consumer core, a position beyond the log end that the client reset by itself", () => {
  // kafkajs (auto.offset.reset) answers a position beyond the log end by fetching from the log
  // start, and after every batch it hands over goes on from that batch's end, whether the core took
  // the batch or dropped it, unless the core seeks it.
  it.effect("a reset batch that cannot be judged is fetched again from the position, then judged, and none of its records is skipped", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted({ low: 0n, high: 40n }, 1)
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 50n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      assert.deepStrictEqual(seeks, [50n])
      // 50 is beyond the log end (40): the client resets to the log start, 0.
      yield* Effect.promise(() => core.offer(tp, 0n, batch(0n, 10), 10n, 40n))
      assert.deepStrictEqual(seeks, [50n, 50n], "undecided: asked to fetch from 50 again (the client would go on from 10)")
      yield* Effect.promise(() => core.offer(tp, 0n, batch(0n, 10), 10n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 0n)
      assert.strictEqual(delivered[0]!.firstOffset, 0n)
    }))

  it.effect("a reset batch judged stale because the log grew past the position meanwhile does not leave the partition stalled", () =>
    Effect.gen(function*() {
      // The log ended at 40 when the client fetched 50 (and reset to 0); 60 when the core asks.
      let high = 40n
      const { driver, seeks } = scripted(() => ({ low: 0n, high }))
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 50n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      let pos = seeks.at(-1)! > high ? 0n : seeks.at(-1)!
      high = 60n
      // The client fetches batches of 7 records until it reaches the log end.
      for (let fetches = 0; fetches < 12 && pos < high; fetches++) {
        const sought = seeks.length
        const n = Number(high - pos < 7n ? high - pos : 7n)
        yield* Effect.promise(() => core.offer(tp, pos, batch(pos, n), pos + BigInt(n), high))
        pos = seeks.length > sought ? seeks.at(-1)! : pos + BigInt(n)
      }
      assert.isAbove(Number(core.fetchPosition("t:0")), 50, `the partition went on from 50 (client at ${pos}, seeks ${seeks})`)
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 50n)
      assert.strictEqual(delivered[0]!.firstOffset, 50n)
    }))
})

describe("consumer core, offsets that hold nothing to deliver (transaction markers, aborted records)", () => {
  it.effect("a fetch with no record that moves the position is delivered as an empty batch; one that does not move it is not", () =>
    Effect.gen(function*() {
      const { driver } = scripted()
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 3n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      // Offset 3 a commit marker, the end of the log: nothing to deliver, the position moves to 4.
      yield* Effect.promise(() => core.offer(tp, 3n, [], 4n, 4n))
      assert.strictEqual(core.fetchPosition("t:0"), 4n)
      // Nothing new (an idle fetch reported as such): no batch.
      yield* Effect.promise(() => core.offer(tp, 4n, [], 4n, 4n))
      yield* Effect.promise(() => core.offer(tp, 4n, [record(4n), record(5n)], 6n, 6n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(
        delivered.map((b) => ({ records: b.records.map((r) => r.offset), from: b.fromOffset, first: b.firstOffset, next: b.nextOffset, hw: b.highWatermark })),
        [
          { records: [], from: 3n, first: 4n, next: 4n, hw: 4n },
          { records: [4n, 5n], from: 4n, first: 4n, next: 6n, hw: 6n }
        ]
      )
    }))
})

describe("consumer core, an assignment by another assignor", () => {
  it.effect("partitions of topics this member does not subscribe to are not handed to onAssign nor read", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted()
      const asked: Array<ReadonlyArray<TopicPartition>> = []
      const core = yield* makeConsumerCore({
        groupId: "g",
        topics: ["t"],
        onAssign: (tps) => Effect.sync(() => void asked.push(tps)).pipe(Effect.as(new Map([["t:0", 5n]])))
      }, driver, errorOf)
      // A leader dealing its own topics to every member (the libraries' round robin) hands us "other".
      yield* Effect.promise(() => core.assign([tp, { topic: "other", partition: 1 }]))
      assert.deepStrictEqual(asked, [[tp]])
      assert.deepStrictEqual(yield* core.consumer.assignment, [tp])
      assert.deepStrictEqual(seeks, [5n])
    }))
})

describe("consumer core, records deleted under a partition being read (kafkajs resets by itself)", () => {
  // kafkajs answers OFFSET_OUT_OF_RANGE by committing its default offset (earliest for ingest) and
  // fetching from the log start (consumerGroup.recoverFromOffsetOutOfRange): a partition already
  // delivering batches (no longer strict) then gets a batch fetched from beyond its position.
  it.effect("a batch the client fetched from the log start, past records deleted while it was behind, tells them deleted", () =>
    Effect.gen(function*() {
      const marks = { low: 0n, high: 10n }
      const { driver } = scripted(marks)
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 0n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      yield* Effect.promise(() => core.offer(tp, 0n, batch(0n, 10), 10n, 10n))
      // While it was behind, retention deleted 10 to 29; its fetch from 10 was out of range and it
      // fetched from the log start, 30.
      marks.low = 30n
      marks.high = 40n
      yield* Effect.promise(() => core.offer(tp, 30n, batch(30n, 10), 40n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(2), Stream.runCollect)
      assert.strictEqual(delivered[1]!.fromOffset, 10n)
      assert.strictEqual(delivered[1]!.firstOffset, 30n)
      assert.strictEqual(delivered[1]!.logStartOffset, 30n, "records 10 to 29 were deleted before they were read")
    }))

  it.effect("a batch past offsets compacted away (the log starts below the position) is no loss, delivered as continuing", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted({ low: 0n, high: 40n })
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 0n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      yield* Effect.promise(() => core.offer(tp, 0n, batch(0n, 10), 10n, 40n))
      yield* Effect.promise(() => core.offer(tp, 15n, batch(15n, 5), 20n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(2), Stream.runCollect)
      assert.strictEqual(delivered[1]!.fromOffset, 10n)
      assert.strictEqual(delivered[1]!.firstOffset, 15n)
      assert.isUndefined(delivered[1]!.logStartOffset)
      assert.deepStrictEqual(seeks, [0n])
    }))

  it.effect("a log start that moved on after the client's reset counts only the offsets the batch does not hold", () =>
    Effect.gen(function*() {
      // The client reset to the log start 20 and fetched 20 to 29; by the time the core asks, the
      // log starts at 25: 20 to 24 were read, not lost.
      const { driver } = scripted({ low: 25n, high: 40n })
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 5n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      yield* Effect.promise(() => core.offer(tp, 20n, batch(20n, 10), 30n, 40n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.fromOffset, 5n)
      assert.strictEqual(delivered[0]!.firstOffset, 20n)
      assert.strictEqual(delivered[0]!.logStartOffset, 20n)
    }))
})

describe("consumer core, a batch judged while the check of an out-of-range fetch moves the position", () => {
  it.effect("a batch judged after another moved the position sends the client back to the position: none of its records is skipped", () =>
    Effect.gen(function*() {
      const seeks: Array<bigint> = []
      const answers: Array<(marks: ReadonlyArray<{ topic: string; partition: number; low: bigint; high: bigint }>) => void> = []
      const driver: ConsumerDriver = {
        seek: (_, offset) => void seeks.push(offset),
        pause: () => undefined,
        resume: () => undefined,
        committed: async () => new Map(),
        watermarks: () => new Promise((resolve) => void answers.push(resolve)),
        commit: async () => undefined
      }
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], onAssign: () => Effect.succeed(new Map([["t:0", 0n]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      // Every record below 30 was deleted; the client's fetch from 0 was out of range, and the core's
      // check of it asks the watermarks (the log empty when it looked).
      const moved = core.outOfRange(tp)
      // The client, reset to 30, fetched the first record written since (30) and offers it; its
      // judging waits on the watermarks too.
      const fetched = core.offer(tp, 30n, [record(30n)], 31n, 31n)
      answers[0]!([{ topic: "t", partition: 0, low: 30n, high: 30n }])
      yield* Effect.promise(() => moved)
      answers[1]!([{ topic: "t", partition: 0, low: 30n, high: 31n }])
      yield* Effect.promise(() => fetched)
      assert.strictEqual(core.fetchPosition("t:0"), 30n)
      // The client went on from 31 after the batch the core dropped: it must fetch 30 again.
      assert.strictEqual(seeks.at(-1), 30n, `seeks ${seeks}`)
      yield* Effect.promise(() => core.offer(tp, 30n, [record(30n)], 31n, 31n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(delivered.map((b) => [b.fromOffset, b.nextOffset, b.logStartOffset]), [[0n, 30n, 30n], [30n, 31n, undefined]])
    }))
})

describe("consumer core, a fetch out of range (kafkajs resets the position by itself)", () => {
  const started = (driver: ConsumerDriver, at: bigint, startFrom: "earliest" | "latest" = "earliest") =>
    Effect.gen(function*() {
      const core = yield* makeConsumerCore({ groupId: "g", topics: ["t"], startFrom, onAssign: () => Effect.succeed(new Map([["t:0", at]])) }, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      return core
    })

  it.effect("every record past the position deleted: an empty batch moves it to the log start, telling them lost", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted({ low: 30n, high: 30n })
      const core = yield* started(driver, 10n)
      yield* Effect.promise(() => core.outOfRange(tp))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.deepStrictEqual(delivered.map((b) => [b.fromOffset, b.firstOffset, b.nextOffset, b.logStartOffset, b.records.length]), [[10n, 30n, 30n, 30n, 0]])
      assert.strictEqual(seeks.at(-1), 30n)
    }))

  it.effect("records after the deleted ones: the loss is told at once, and the client reads on from the log start whatever it reset to", () =>
    Effect.gen(function*() {
      // startFrom latest: kafkajs resets to the log end (40) and would skip 30 to 39.
      const { driver, seeks } = scripted({ low: 30n, high: 40n })
      const core = yield* started(driver, 10n, "latest")
      yield* Effect.promise(() => core.outOfRange(tp))
      assert.strictEqual(seeks.at(-1), 30n)
      // A batch fetched from the log end before the seek is stale; the one from the log start continues.
      yield* Effect.promise(() => core.offer(tp, 40n, [record(40n)], 41n, 41n))
      yield* Effect.promise(() => core.offer(tp, 30n, [record(30n)], 31n, 41n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(delivered.map((b) => [b.fromOffset, b.firstOffset, b.nextOffset, b.logStartOffset]), [[10n, 30n, 30n, 30n], [30n, 30n, 31n, undefined]])
    }))

  it.effect("a log start at or below the position (a reset for another cause) changes nothing", () =>
    Effect.gen(function*() {
      const { driver, seeks, asked } = scripted({ low: 10n, high: 40n })
      const core = yield* started(driver, 10n)
      yield* Effect.promise(() => core.outOfRange(tp))
      assert.strictEqual(asked(), 1)
      assert.deepStrictEqual(seeks, [10n])
      assert.strictEqual(core.fetchPosition("t:0"), 10n)
    }))
  it.effect("a seek the client refuses (kafkajs' consumer stopped meanwhile: restarting after a crash, or closing) does not reject the check, whose caller does not wait on it", () =>
    Effect.gen(function*() {
      const { driver } = scripted({ low: 30n, high: 30n })
      const core = yield* started(driver, 10n)
      const refusing: ConsumerDriver = driver
      ;(refusing as { seek: ConsumerDriver["seek"] }).seek = () => {
        throw new Error("Consumer group was not initialized, consumer#run must be called first")
      }
      const settled = yield* Effect.promise(() => core.outOfRange(tp).then(() => "resolved", (e: unknown) => `rejected: ${e}`))
      assert.strictEqual(settled, "resolved")
      // The loss is told all the same; the next assignment seeks the client to the position.
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.deepStrictEqual(delivered.map((b) => [b.fromOffset, b.nextOffset, b.logStartOffset]), [[10n, 30n, 30n]])
    }))
  it.live("a reset because the log now ends below the position (topic re-created, log truncated) does not drop the client's batches from its reset until they pass the old position", () =>
    Effect.gen(function*() {
      const marks = { low: 0n, high: 20n }
      const { driver, seeks } = scripted(marks)
      const core = yield* started(driver, 0n)
      yield* Effect.promise(() => core.offer(tp, 0n, [record(0n), record(1n)], 20n, 20n))
      yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      // Re-created: the log holds 0 to 4; the fetch from 20 is out of range and kafkajs resets to 0.
      marks.high = 5n
      yield* Effect.promise(() => core.outOfRange(tp))
      yield* Effect.promise(() => core.offer(tp, 0n, [record(0n), record(1n), record(2n), record(3n), record(4n)], 5n, 5n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect, Effect.timeoutOption("1 second"))
      assert.isTrue(delivered._tag === "Some" && delivered.value[0]!.records.length === 5, `new records 0-4 delivered, seeks ${seeks}, position ${core.fetchPosition("t:0")}`)
    }))
})

describe("consumer core, a partition assigned again while its revoke runs", () => {
  // Clients do not wait for onRevoke before the next assignment (kafkajs' GROUP_JOIN, platformatic's
  // join): the old assignment's worker, not yet stopped by onRevoke, may still pause or seek the
  // partition after the core took it back and was handed it again. That belongs to the old
  // assignment: the new one starts where its onAssign says, fetched.
  const revokeHeld = () => {
    const { driver, seeks } = scripted()
    const starts = [5n, 50n]
    let release: (() => void) | undefined
    const options = {
      groupId: "g",
      topics: ["t"],
      onAssign: () => Effect.succeed(new Map([["t:0", starts.shift()!]])),
      onRevoke: () => Effect.callback<void>((resume) => {
        release = () => resume(Effect.void)
      })
    }
    return { driver, seeks, options, release: () => release!() }
  }
  const tick = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))

  it.effect("a pause by the old assignment's worker does not keep the new assignment paused for good", () =>
    Effect.gen(function*() {
      const { driver, options, release } = revokeHeld()
      const core = yield* makeConsumerCore(options, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      assert.strictEqual(core.fetchPosition("t:0"), 5n)
      void core.assign([])
      const again = core.assign([tp])
      yield* tick
      // The old worker, failing before onRevoke stops it, pauses its partition (supervisor backoff).
      yield* core.consumer.pause([tp])
      release()
      yield* Effect.promise(() => again)
      assert.strictEqual(core.fetchPosition("t:0"), 50n, "the partition assigned again is fetched")
      yield* Effect.promise(() => core.offer(tp, 50n, [record(50n)], 51n, 60n))
      const delivered = yield* core.consumer.batches.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(delivered[0]!.firstOffset, 50n)
    }))

  it.effect("a seek by the old assignment's worker does not say where the new assignment starts", () =>
    Effect.gen(function*() {
      const { driver, options, release, seeks } = revokeHeld()
      const core = yield* makeConsumerCore(options, driver, errorOf)
      yield* Effect.promise(() => core.assign([tp]))
      void core.assign([])
      const again = core.assign([tp])
      yield* tick
      // The old worker's restart seeks where the tables said before the revoke.
      const sought = yield* core.consumer.seek(tp, 7n).pipe(Effect.flip, Effect.option)
      release()
      yield* Effect.promise(() => again)
      assert.strictEqual(core.fetchPosition("t:0"), 50n, "starts where the new onAssign says")
      assert.strictEqual(seeks.at(-1), 50n)
      // Not this assignment's caller: told NotAssigned, as after the revoke.
      assert.strictEqual(Option.getOrUndefined(sought)?.reason._tag, "NotAssigned")
    }))
})

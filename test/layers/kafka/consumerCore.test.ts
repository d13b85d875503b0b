/** The consumer core's position rules with a scripted client (no broker). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { type ConsumerDriver, makeConsumerCore } from "../../../src/layers/kafka/consumerCore.ts"
import { kafkaError, KafkaRejected, type KafkaRecord, type TopicPartition } from "../../../src/services/KafkaSource.ts"

const tp: TopicPartition = { topic: "t", partition: 0 }
const record = (offset: bigint): KafkaRecord => ({ offset, key: null, value: new Uint8Array([1]), headers: {}, timestamp: 0 })

/** A client whose watermarks fail as often as asked; it records the seeks it is told. */
const scripted = (failWatermarks: number) => {
  const seeks: Array<bigint> = []
  let failures = failWatermarks
  const driver: ConsumerDriver = {
    seek: (_, offset) => void seeks.push(offset),
    pause: () => undefined,
    resume: () => undefined,
    committed: async () => new Map(),
    watermarks: async () => {
      if (failures-- > 0) throw new Error("admin unreachable")
      return [{ topic: "t", partition: 0, low: 20n, high: 40n }]
    },
    commit: async () => undefined
  }
  return { driver, seeks }
}

const errorOf = (operation: string, cause: unknown) => kafkaError(new KafkaRejected({ operation, detail: String(cause) }))

describe("consumer core", () => {
  it.effect("a batch from beyond the position that cannot be judged is fetched again from the position, then judged", () =>
    Effect.gen(function*() {
      const { driver, seeks } = scripted(1)
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
      const { driver, seeks } = scripted(0)
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

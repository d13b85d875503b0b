/**
 * The platformatic layer's consumer without a broker: the Consumer's methods that reach the network
 * are replaced on its prototype for the length of a test (as platformaticLayer.test.ts does for the
 * producer and admin), and restored after it. Assignments are told as platformatic tells them, by
 * its `consumer:group:join` event.
 */
import { Consumer, ResponseError, UserError } from "@platformatic/kafka"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Stream } from "effect"
import { layerPlatformatic } from "../../../src/layers/kafka/platformatic.ts"
import { KafkaError, KafkaSource } from "../../../src/services/KafkaSource.ts"
import { prototypeStubs } from "../../support/prototypeStubs.ts"

const replace = prototypeStubs()

/** Port 1 on loopback: nothing of these tests may reach it (every network method is replaced). */
const layer = () => layerPlatformatic({ brokers: ["127.0.0.1:1"] })

const metadataOf = (partitions: number) => ({
  brokers: new Map([[1, { host: "127.0.0.1", port: 1 }]]),
  topics: new Map([["t", {
    id: "topic-id-t",
    partitionsCount: partitions,
    partitions: Array.from({ length: partitions }, (_, i) => ({ leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [], partition: i }))
  }]])
})

/**
 * Subscribes to `t`, is told `partitions` as platformatic tells an assignment, and reads: the
 * reading fiber, whose failure or end a test races against what it waits for.
 */
const assignedAndReading = (partitions: Array<number>, join: { readonly generationId: number; readonly isLeader: boolean }) =>
  Effect.gen(function*() {
    const source = yield* KafkaSource
    let member: Consumer | undefined
    replace(Consumer.prototype, "joinGroup", async function(this: Consumer) {
      member = this
      return "member-1"
    } as never)
    const consumer = yield* source.subscribe({ groupId: "g", topics: ["t"] })
    member!.emit("consumer:group:join", { groupId: "g", memberId: "member-1", ...join, assignments: [{ topic: "t", partitions }] })
    return yield* Effect.forkScoped(Stream.runDrain(consumer.batches))
  })

/** Undefined once `reached` is done; the reading's failure (or "ended") if that comes first. */
const failedBefore = (reached: Deferred.Deferred<void>, reading: Fiber.Fiber<void, KafkaError>) =>
  Effect.raceFirst(
    Deferred.await(reached).pipe(Effect.as(undefined)),
    Fiber.await(reading).pipe(Effect.map((e) => Exit.isFailure(e) ? String(e.cause) : "ended"))
  )

describe("platformatic layer, consumer", () => {
  it("a partition the leader assigns that this member's cached metadata predates is fetched once the metadata is read again, not a consumer failed for an unknown topic", async () => {
    // Partitions were added: the leader saw them and assigned one to this member, whose metadata
    // (platformatic keeps it 5 s) still shows the old count until it is asked for afresh or cleared.
    let cached: ReturnType<typeof metadataOf> | undefined = metadataOf(1)
    replace(Consumer.prototype, "metadata", async function(options: { forceUpdate?: boolean }) {
      if (cached === undefined || options.forceUpdate === true) cached = metadataOf(2)
      return cached
    } as never)
    replace(Consumer.prototype, "clearMetadata", function() {
      cached = undefined
    } as never)
    replace(Consumer.prototype, "joinGroup", async function() {
      return "member-1"
    } as never)
    replace(Consumer.prototype, "listCommittedOffsets", async function() {
      return new Map([["t", [0n, 0n]]])
    } as never)
    replace(Consumer.prototype, "close", async function() {} as never)
    const fetchedNew = Deferred.makeUnsafe<void>()
    replace(Consumer.prototype, "fetch", async function(options: { topics: Array<{ partitions: Array<{ partition: number }> }> }) {
      if (options.topics.some((t) => t.partitions.some((p) => p.partition === 1))) Deferred.doneUnsafe(fetchedNew, Exit.void)
      // A long poll that found nothing.
      await new Promise((resolve) => setTimeout(resolve, 10))
      return { errorCode: 0, responses: [] }
    } as never)
    const exit = await Effect.runPromise(Effect.exit(Effect.scoped(Effect.gen(function*() {
      const reading = yield* assignedAndReading([0, 1], { generationId: 2, isLeader: false })
      // Either the new partition is fetched, or the consumer failed.
      const failed = yield* failedBefore(fetchedNew, reading)
      assert.isUndefined(failed, `the consumer failed: ${failed}`)
    }).pipe(Effect.provide(layer())))))
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
  })

  it("a leader that does not know a partition (UNKNOWN_TOPIC_OR_PARTITION in a fetch: its metadata older than a reassignment) is fetched from again, as kafkajs does, not a consumer failed for an unknown topic", async () => {
    replace(Consumer.prototype, "metadata", async function() {
      return metadataOf(1)
    } as never)
    replace(Consumer.prototype, "listCommittedOffsets", async function() {
      return new Map([["t", [0n]]])
    } as never)
    replace(Consumer.prototype, "close", async function() {} as never)
    let fetches = 0
    const fetchedAgain = Deferred.makeUnsafe<void>()
    replace(Consumer.prototype, "fetch", async function() {
      fetches++
      await new Promise((resolve) => setTimeout(resolve, 10))
      if (fetches === 1) {
        // As K2's Fetch parse answers a partition error (platformaticFetch.ts): the response rides on the error.
        const response = {
          errorCode: 0,
          responses: [{ topicId: "topic-id-t", partitions: [{ partitionIndex: 0, errorCode: 3, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null }] }]
        }
        throw new ResponseError(1, 17, { "/responses/0/partitions/0": [3, null] }, response)
      }
      Deferred.doneUnsafe(fetchedAgain, Exit.void)
      return { errorCode: 0, responses: [] }
    } as never)
    const exit = await Effect.runPromise(Effect.exit(Effect.scoped(Effect.gen(function*() {
      const failed = yield* failedBefore(fetchedAgain, yield* assignedAndReading([0], { generationId: 1, isLeader: true }))
      assert.isUndefined(failed, `the consumer failed: ${failed}`)
    }).pipe(Effect.provide(layer())))))
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
  })

  it("a topic deleted (UNKNOWN_TOPIC_ID in a fetch, then a metadata read that does not know it) still fails the consumer, UnknownTopic", async () => {
    let cleared = false
    replace(Consumer.prototype, "metadata", async function() {
      if (cleared) throw new UserError("Unknown topic t.")
      return metadataOf(1)
    } as never)
    replace(Consumer.prototype, "clearMetadata", function() {
      cleared = true
    } as never)
    replace(Consumer.prototype, "listCommittedOffsets", async function() {
      return new Map([["t", [0n]]])
    } as never)
    replace(Consumer.prototype, "close", async function() {} as never)
    replace(Consumer.prototype, "fetch", async function() {
      await new Promise((resolve) => setTimeout(resolve, 10))
      const response = {
        errorCode: 0,
        responses: [{ topicId: "topic-id-t", partitions: [{ partitionIndex: 0, errorCode: 100, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null }] }]
      }
      throw new ResponseError(1, 17, { "/responses/0/partitions/0": [100, null] }, response)
    } as never)
    const exit = await Effect.runPromise(Effect.exit(Effect.scoped(Effect.gen(function*() {
      return yield* Fiber.join(yield* assignedAndReading([0], { generationId: 1, isLeader: true }))
    }).pipe(Effect.provide(layer())))))
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    assert.instanceOf(error, KafkaError)
    assert.strictEqual((error as KafkaError).reason._tag, "UnknownTopic")
  })
})

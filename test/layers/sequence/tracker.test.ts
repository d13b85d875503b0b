import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { sequenceEventColumns } from "../../../src/domain/sequence/events.ts"
import type { SequenceInput } from "../../../src/domain/sequence/tracker.ts"
import * as Sequence from "../../../src/layers/sequence/tracker.ts"
import { SequenceCheckpointError, SequenceTracker } from "../../../src/services/SequenceTracker.ts"

const T0 = Date.UTC(2024, 2, 4, 0) * 1000
const msg = (symbol: string, seq: number, second: number): SequenceInput => ({
  exchange: "ASX",
  symbol,
  source_sequence: BigInt(seq),
  exchange_timestamp: T0 + second * 1_000_000,
  message_id: `${symbol}-${seq}-${second}`,
  kafka_topic: "trades",
  kafka_partition: 0,
  kafka_offset: BigInt(second)
})

describe("SequenceTracker", () => {
  it.effect("observes batches, stamps events with the clock and counts verdicts", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const tracker = yield* SequenceTracker
      const o = yield* tracker.observe([msg("BHP", 1, 0), msg("BHP", 3, 1), msg("BHP", 3, 2)])
      assert.deepStrictEqual(o.duplicates, [2])
      assert.deepStrictEqual(o.events.map((e) => [e.kind, e.detected_at]), [
        ["GAP", 1_700_000_000_000_000],
        ["DUPLICATE", 1_700_000_000_000_000]
      ])
      assert.strictEqual(sequenceEventColumns(o.events).rowCount, 2)
      const stats = yield* tracker.stats
      assert.deepStrictEqual(stats.verdicts, { OK: 1, GAP: 1, DUPLICATE: 1, OUT_OF_ORDER: 0, RESET: 0, GAP_FILLED: 0 })
      assert.strictEqual(stats.streams, 1)
      assert.strictEqual(stats.capacity, 10_000)
    }).pipe(Effect.provide(Sequence.layerMemory)))

  it.effect("a restart from the checkpoint of the last commit, gaps on both sides, reports what one run reports", () =>
    Effect.gen(function*() {
      const before = [msg("BHP", 1, 0), msg("BHP", 2, 1), msg("BHP", 6, 2), msg("BHP", 4, 3)] // gap 3..5, 4 filled
      const after = [msg("BHP", 7, 4), msg("BHP", 3, 5), msg("BHP", 10, 6), msg("BHP", 5, 7), msg("BHP", 9, 8), msg("BHP", 9, 9)]
      const run = (batches: ReadonlyArray<ReadonlyArray<SequenceInput>>, restoreFrom?: string) =>
        Effect.gen(function*() {
          const tracker = yield* SequenceTracker
          if (restoreFrom !== undefined) yield* tracker.restore(restoreFrom)
          const events = []
          for (const b of batches) events.push(...(yield* tracker.observe(b)).events)
          return { events, checkpoint: yield* tracker.checkpoint() }
        }).pipe(Effect.provide(Sequence.layerMemory))

      const whole = yield* run([before, after])
      const first = yield* run([before])
      const second = yield* run([after], first.checkpoint)
      const kinds = (es: ReadonlyArray<{ readonly kind: string; readonly received: bigint | null }>) =>
        es.map((e) => `${e.kind}:${e.received}`)
      assert.deepStrictEqual(kinds(first.events), ["GAP:6", "GAP_FILLED:4"])
      assert.deepStrictEqual(kinds(second.events), ["GAP_FILLED:3", "GAP:10", "GAP_FILLED:5", "GAP_FILLED:9", "DUPLICATE:9"])
      assert.deepStrictEqual([...first.events, ...second.events], whole.events)
      assert.strictEqual(second.checkpoint, whole.checkpoint)
    }))

  it.effect("fails restore with SequenceCheckpointError on a malformed checkpoint", () =>
    Effect.gen(function*() {
      const tracker = yield* SequenceTracker
      const error = yield* Effect.flip(tracker.restore(`{"v":1,"streams":[["ASX"]]}`))
      assert.instanceOf(error, SequenceCheckpointError)
      assert.strictEqual(error._tag, "SequenceCheckpointError")
    }).pipe(Effect.provide(Sequence.layerMemory)))

  it.effect("restores only the streams a filter selects from a checkpoint", () =>
    Effect.gen(function*() {
      const tracker = yield* SequenceTracker
      yield* tracker.observe([msg("A", 1, 0), msg("B", 5, 0)])
      const checkpoint = yield* tracker.checkpoint()
      yield* tracker.forget()
      assert.strictEqual(yield* tracker.restore(checkpoint, (_, symbol) => symbol === "B"), 1)
      const restored = JSON.parse(yield* tracker.checkpoint()) as { streams: ReadonlyArray<ReadonlyArray<unknown>> }
      assert.deepStrictEqual(restored.streams.map((stream) => stream[1]), ["B"])
    }).pipe(Effect.provide(Sequence.layerMemory)))

  it.effect("forgets the streams of a revoked partition", () =>
    Effect.gen(function*() {
      const tracker = yield* SequenceTracker
      yield* tracker.observe([msg("A", 1, 0), msg("B", 1, 0)])
      assert.strictEqual(yield* tracker.forget((_, symbol) => symbol === "A"), 1)
      assert.strictEqual((yield* tracker.stats).streams, 1)
    }).pipe(Effect.provide(Sequence.layerMemory)))

  it.effect("a misconfigured zone, capacity or gap bound fails the layer with a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      for (
        const [env, names] of [
          [{ K2_SEQUENCE_ZONES: "ASX=Mars/Olympus" }, ["K2_SEQUENCE_ZONES", "Mars/Olympus"]],
          [{ K2_SEQUENCE_ZONES: "ASX" }, ["K2_SEQUENCE_ZONES", "ASX"]],
          [{ K2_SEQUENCE_CAPACITY: "0" }, ["K2_SEQUENCE_CAPACITY"]],
          [{ K2_SEQUENCE_MAX_GAPS: "-1" }, ["K2_SEQUENCE_MAX_GAPS"]]
        ] as const
      ) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(
          Sequence.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
        )))
        assert.strictEqual(error._tag, "ConfigError", JSON.stringify(env))
        for (const name of names) assert.include(error.message, name)
      }
    }))

  // They said "Expected a value greater than 0 at [K2_SEQUENCE_CAPACITY]": not the value, nor that an integer is wanted.
  it.effect("a count setting refused shows the value given and wants an integer of at least 1", () =>
    Effect.gen(function*() {
      for (
        const [name, value] of [
          ["K2_SEQUENCE_CAPACITY", "0"],
          ["K2_SEQUENCE_CAPACITY", " 5"],
          ["K2_SEQUENCE_MAX_GAPS", "1.5"],
          ["K2_SEQUENCE_IDLE_SECONDS", "30m"]
        ] as const
      ) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(
          Sequence.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ [name]: value }))))
        )))
        for (const said of [name, JSON.stringify(value), "an integer of at least 1"]) assert.include(error.message, said, `${name}=${value}`)
      }
    }))

  // Records' exchange codes are upper case (CODE_PATTERN): "asx=..." matched no record, and a second
  // ASX pair silently overrode the first, so ASX kept a zone the setting did not say.
  it.effect("a K2_SEQUENCE_ZONES pair no record can match, or an exchange named twice, is a ConfigError", () =>
    Effect.gen(function*() {
      for (
        const [zones, names] of [
          ["asx=Australia/Perth", ["asx", "upper-case"]],
          ["XTKS=Asia/Tokyo, ASX=Australia/Perth,ASX=Australia/Sydney", ["ASX", "twice"]],
          ["A B=Asia/Tokyo", ["A B"]],
          // A pair with more than one "=" is no pair.
          ["ASX=Australia/Sydney=Australia/Perth", ["ASX=Australia/Sydney=Australia/Perth"]]
        ] as const
      ) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(
          Sequence.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ K2_SEQUENCE_ZONES: zones }))))
        )))
        assert.strictEqual(error._tag, "ConfigError", zones)
        for (const name of ["K2_SEQUENCE_ZONES", ...names]) assert.include(error.message, name, zones)
      }
    }))

  it.effect("layer reads its configuration", () =>
    Effect.gen(function*() {
      const tracker = yield* SequenceTracker
      yield* tracker.observe([msg("A", 1, 0), msg("B", 1, 0), msg("C", 1, 0), msg("A", 2, 60), msg("A", 1, 200)])
      const stats = yield* tracker.stats
      assert.strictEqual(stats.capacity, 2)
      assert.strictEqual(stats.evictions, 2) // C evicts A, then A evicts B
      assert.strictEqual(stats.verdicts.RESET, 1) // 140 s idle against 120 s configured
    }).pipe(
      Effect.provide(
        Sequence.layerConfig.pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
            K2_SEQUENCE_CAPACITY: "2",
            K2_SEQUENCE_IDLE_SECONDS: "120",
            K2_SEQUENCE_ZONES: "ASX=Australia/Perth"
          })))
        )
      )
    ))
})

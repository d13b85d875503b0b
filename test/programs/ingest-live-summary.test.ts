/**
 * Live mode's summary and progress line (`ingestUntilStopped`) over a stand-in ingestor: their time
 * and rate are ingestion's. Measured from the run's start, a run that waited 40 s for its broker
 * said "ingested in 40.2 s (25 messages/s)" of 1000 messages read in 0.2 s.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import { Console, Effect, Layer } from "effect"
import { makeCounters, progressOf } from "../../src/layers/ingest/ingestProgress.ts"
import { ingestUntilStopped } from "../../src/programs/cli/ingestRuns.ts"
import { type IngestError, type IngestProgress, Ingestor } from "../../src/services/Ingestor.ts"
import { KafkaError, NotAuthorized } from "../../src/services/KafkaSource.ts"

const read: IngestProgress = { ...progressOf(makeCounters(), new Map()), consumed: 1_000, partitions: 1 }

describe("live mode's summary", () => {
  it.live("times and rates ingestion from its start, the broker wait before it said apart", () =>
    Effect.gen(function*() {
      let printed = ""
      let summarized = false
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (text: unknown) => void (printed += `${String(text)}\n`),
        error: () => {}
      })
      const lines: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (lines.push(String(c)), true))
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      // The run started 40 s ago, waiting for its broker; ingestion then reads for about 1.2 s.
      yield* ingestUntilStopped(performance.now() - 40_000, () => void (summarized = true)).pipe(
        Effect.provide(Layer.succeed(Ingestor)(Ingestor.of({ run: Effect.sleep("1200 millis"), progress: Effect.succeed(read) }))),
        Effect.provideService(Console.Console, console),
        Effect.ensuring(Effect.sync(() => {
          spy.mockRestore()
          process.stderr.isTTY = tty
        }))
      )
      assert.isTrue(summarized)
      const first = printed.split("\n")[0]!
      const m = /^ingested in ([\d.]+) s \((\d+) messages\/s\), after ([\d.]+) s starting/.exec(first)
      assert.isNotNull(m, first)
      assert.isBelow(Number(m![1]), 10, first)
      assert.isAbove(Number(m![2]), 100, first)
      assert.isAtLeast(Number(m![3]), 40, first)
      // The progress line's seconds and rate are ingestion's too: its first line (at once) read
      // 1000 messages over the 40 s since the start, "25/s | ... | 40 s".
      const line = lines.find((l) => l.includes("messages,"))
      assert.isDefined(line)
      assert.match(line!, /\| [01] s\s*$/)
      assert.notMatch(line!, /, 2\d\/s/)
    }))

  /** A run of the stand-in ingestor: what it printed, whether it said it summarized, and how it ended. */
  const runOf = (run: Effect.Effect<void, IngestError>, progress: IngestProgress) =>
    Effect.gen(function*() {
      let printed = ""
      let summarized = false
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (text: unknown) => void (printed += `${String(text)}\n`),
        error: () => {}
      })
      const spy = vi.spyOn(process.stderr, "write").mockImplementation(() => true)
      const failure = yield* ingestUntilStopped(performance.now(), () => void (summarized = true)).pipe(
        Effect.provide(Layer.succeed(Ingestor)(Ingestor.of({ run, progress: Effect.succeed(progress) }))),
        Effect.provideService(Console.Console, console),
        Effect.flip,
        Effect.ensuring(Effect.sync(() => spy.mockRestore()))
      )
      return { printed, summarized, failure }
    })

  it.live("a run that fails before reading anything prints its error alone, no summary of zeros", () =>
    Effect.gen(function*() {
      const nothing = progressOf(makeCounters(), new Map())
      const { failure, printed, summarized } = yield* runOf(Effect.fail(refused), nothing)
      assert.strictEqual(failure, refused)
      assert.strictEqual(printed, "")
      assert.isFalse(summarized)
    }))

  it.live("a run that read and then failed still prints its summary", () =>
    Effect.gen(function*() {
      const { failure, printed, summarized } = yield* runOf(Effect.fail(refused), read)
      assert.strictEqual(failure, refused)
      assert.include(printed, "consumed            1000")
      assert.isTrue(summarized)
    }))
})

/** The broker refusing the group: a fault ingestion does not wait out. */
const refused = new KafkaError({ reason: new NotAuthorized({ operation: "join", code: "GROUP_AUTHORIZATION_FAILED", resource: "group k2-ingest", needs: "READ", principal: "User:k2" }) })

/**
 * `npm run replay --from ... --to ...` stopped by a signal (Ctrl-C, a job runner's SIGTERM on its
 * timeout) before the range's end: the output is cut, so the program must not end as a whole
 * replay does. It exited 0 without a word, and a script took the cut file for the whole range.
 */
import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { DrainRecord, drainRecord, programExitCode } from "../../src/programs/cli/run.ts"
import { ndjsonReplay } from "../../src/programs/replay.ts"
import type { ReplayEvent } from "../../src/services/ReplayEngine.ts"

const T = Date.UTC(2024, 0, 2) * 1000
const event = (i: number): ReplayEvent => ({
  _tag: "Trade", message_id: `m${i}`, symbol: "BHP", exchange: "ASX", asset_class: "equities", exchange_timestamp: T + i,
  currency: "AUD", conditions: [], source_sequence: BigInt(i), ingestion_timestamp: T, kafka_topic: "t", kafka_partition: 0,
  kafka_offset: BigInt(i), vendor_data: {}, trade_id: `t${i}`, price: "1.00000000", quantity: "2.00000000", side: "BUY"
})

describe("replay NDJSON output, stopped", () => {
  it.effect("stopped by a signal before its end: exit 1, saying how many events were written and the last one's instant", () =>
    Effect.gen(function*() {
      let text = ""
      const out = new Writable({ write: (chunk, _enc, done) => { text += String(chunk); done() } })
      // Three events, then nothing yet (a paced replay waiting for its next instant).
      const events = Stream.concat(Stream.fromIterable([0, 1, 2].map(event)), Stream.never)
      const record = drainRecord()
      const fiber = yield* Effect.forkChild(ndjsonReplay(events, out).pipe(Effect.provideService(DrainRecord, record)))
      while (text.split("\n").length < 4) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(programExitCode(exit, record), 1)
      // What the CLI's runner is handed: the interruption alone (handlers after it pass on only that); the drain's failure still makes it 1.
      assert.strictEqual(programExitCode(Exit.failCause(Cause.interrupt()), record), 1)
      // And only for this run: another's interruption is a clean drain.
      assert.strictEqual(programExitCode(Exit.failCause(Cause.interrupt()), drainRecord()), 0)
      const failure = exit._tag === "Failure" ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.include(String((failure as { error?: { message?: string } } | undefined)?.error?.message), "3 events written, the last at 2024-01-02T00:00:00.000002Z")
    }))

  it.effect("a replay that reaches its end exits 0", () =>
    Effect.gen(function*() {
      const out = new Writable({ write: (_chunk, _enc, done) => done() })
      const record = drainRecord()
      const exit = yield* Effect.exit(ndjsonReplay(Stream.fromIterable([0, 1].map(event)), out).pipe(Effect.provideService(DrainRecord, record)))
      assert.strictEqual(programExitCode(exit, record), 0)
    }))
})

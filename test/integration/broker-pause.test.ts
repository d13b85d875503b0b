/**
 * A broker alive but unresponsive (its JVM frozen with SIGSTOP: as a long GC pause, a hung disk
 * or a paused VM leave it), as against one restarted (ingest-exactly-once.test.ts): connections
 * stay open and nothing answers. A stop then drains within seconds and loses nothing.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import {
  assertExactlyOnce,
  checkTables,
  createTopics,
  expectedRows,
  publish,
  type Scenario,
  spawnIngest,
  uniqueExchange
} from "../support/ingestHarness.ts"
import { ensureBroker, scriptBrokerPid } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

/** The broker frozen while `effect` runs, thawed whatever happens (a test that fails leaves it running). */
const whileFrozen = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const pid = scriptBrokerPid()
      process.kill(pid, "SIGSTOP")
      return pid
    }),
    () => effect,
    (pid) => Effect.sync(() => process.kill(pid, "SIGCONT"))
  )

describe("a broker that stops answering", () => {
  for (const client of ["platformatic", "kafkajs"] as const) {
    it.live(`${client}: a stop while it is frozen commits what was read and ends within seconds, exit 0`, () =>
      Effect.gen(function*() {
        const exchange = uniqueExchange()
        const s: Scenario = { exchange, group: `k2-test-${exchange.toLowerCase()}`, partitions: 2, options: warehouseOptions("sqlite") }
        yield* createTopics(s)
        const r = yield* publish(s, { eventsPerSymbolPerDay: 100 })
        // Nothing is due before the stop: the drain's commit is the one that writes the rows.
        const ingest = spawnIngest({ ...s, commitIntervalMs: 600_000 }, ["--client", client, "--flush-rows", "1000000", "--metrics-port", "0"])
        const allConsumed = (out: string) =>
          [...out.matchAll(/(\d+) messages, [^\n]*\| lag 0 \|/g)].some((m) => Number(m[1]) >= expectedRows(r))
        for (let i = 0; i < 120 && !allConsumed(ingest.output()) && ingest.child.exitCode === null; i++) yield* Effect.sleep("500 millis")
        assert.isTrue(allConsumed(ingest.output()), ingest.output())
        const code = yield* whileFrozen(Effect.gen(function*() {
          ingest.child.kill("SIGTERM")
          // Before, the drain waited for the broker (minutes: request timeouts times retries).
          // Its own waits are a group commit and its retry (5 s each), and the clients' closes (5 s each).
          return yield* Effect.promise(() => ingest.exited).pipe(Effect.timeoutOption("40 seconds"))
        }))
        if (Option.isNone(code)) ingest.child.kill("SIGKILL")
        assert.isTrue(Option.isSome(code), `the drain ended while the broker was frozen\n${ingest.output()}`)
        assert.strictEqual(Option.getOrUndefined(code), 0, ingest.output())
        assert.match(ingest.output(), /Kafka did not answer a group offset commit within 5000 ms/)
        assertExactlyOnce(yield* checkTables(s), r, `${client}: drained while the broker was frozen`)
      }), 120_000)
  }
})

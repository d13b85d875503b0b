/**
 * `npm run ingest --brokers` waiting for a broker it cannot reach says so through the logger, as
 * its other warnings do: with stderr not a terminal (a service manager, a log shipper) one JSON
 * record per line (docs/operations.md, "Logs"). Before, "waiting for Kafka" and "cannot start yet"
 * were plain text between the JSON records. Brokers never reached are waited for --broker-wait only.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, jsonLogLines, spawnProgram, written } from "../support/programs.ts"
import { tempDir } from "../support/tempDir.ts"

/** `npm run ingest` against a free port: nothing listens there, connections are refused at once. */
const ingestAgainstNothing = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const warehouse = yield* tempDir()
    const port = yield* Effect.promise(freePort)
    const p = spawnProgram("ingest", [
      "--brokers", `127.0.0.1:${port}`, "--warehouse", warehouse, "--metrics-port", "0",
      "--topics", "market.equities.trades.asx"
    ], env)
    return { p, port, warehouse }
  })

describe("npm run ingest, an unreachable broker", () => {
  it.effect("the wait is a warning log record, not plain text", () =>
    Effect.gen(function*() {
      const { p, port } = yield* ingestAgainstNothing({ K2_LOG_FORMAT: "json" })
      const records = jsonLogLines(p)
      yield* written(p, "waiting for Kafka")
      p.child.kill("SIGKILL")
      yield* Effect.promise(() => p.exited)
      const out = p.output()
      const waits = out.split("\n").filter((line) => line.includes("waiting for Kafka"))
      assert.isAbove(waits.length, 0, out)
      for (const line of waits) assert.isTrue(line.startsWith("{"), `a log record, not plain text: ${line}`)
      const record = records.find((r) => String(r.message).startsWith("waiting for Kafka"))
      assert.isDefined(record, out)
      assert.strictEqual(record!.level, "warn")
      assert.include(String(record!.message), `127.0.0.1:${port}`)
    }), 60_000)

  it.effect("a stop while it waits says it stopped before reading anything, exit 0", () =>
    Effect.gen(function*() {
      const { p } = yield* ingestAgainstNothing({})
      yield* written(p, "waiting for Kafka")
      p.child.kill("SIGTERM")
      const code = yield* Effect.promise(() => p.exited)
      const out = p.output()
      assert.strictEqual(code, 0, out)
      // Before, it ended without a word: a stop that drained a run reads the same (no summary).
      assert.include(out, "stopped while starting, before anything was read: nothing to commit")
    }), 60_000)

  it.effect("brokers never reached fail the run after the first-contact wait: one clear line, exit 1, no warehouse left", () =>
    Effect.gen(function*() {
      // Before, a wrong port was waited for 150 × 2 s, then that again up to 100 times (some 8 hours).
      const { p, port, warehouse } = yield* ingestAgainstNothing({ K2_KAFKA_BROKER_WAIT_SECONDS: "3" })
      const code = yield* Effect.promise(() => p.exited)
      const out = p.output()
      assert.strictEqual(code, 1, out)
      assert.include(out, `error: no Kafka broker answered at 127.0.0.1:${port}`)
      assert.include(out, "--broker-wait (K2_KAFKA_BROKER_WAIT_SECONDS)")
      assert.notInclude(out, "cannot start yet", "the failure is said once, as the failure")
      assert.notInclude(out, "    at ", "no stack trace")
      // Before, an empty catalog.db was left, and a query of it answered "no such table".
      assert.deepStrictEqual(fs.readdirSync(warehouse), [], "nothing written before a broker answered")
      const query = spawnProgram("query", ["stats", "trades", "--warehouse", warehouse])
      const queryCode = yield* Effect.promise(() => query.exited)
      assert.strictEqual(queryCode, 1, query.output())
      assert.include(query.output(), `error: no warehouse at ${warehouse}`)
    }), 60_000)
})

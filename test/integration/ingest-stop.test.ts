/**
 * A stop of `ingest --brokers` whose drain meets a slow catalog: SIGTERM while a flush waits on a
 * SQLite catalog another process holds a write transaction on. The drain waits for the commit
 * (the tables' commits are waited for in full, ADR-48), commits every record read, leaves the
 * group (a second consumer gets the partitions at once, not after the session timeout) and exits 0.
 */
import { DatabaseSync } from "node:sqlite"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
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
import { ensureBroker, groupMembers } from "../support/kafka.ts"
import { written } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

describe("ingest stopped while its catalog is locked", () => {
  it.live("the drain waits for the lock, commits every record read, leaves the group, exit 0", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-test-${exchange.toLowerCase()}`, partitions: 2, options: warehouseOptions("sqlite") }
      yield* createTopics(s)
      const ingest = spawnIngest(s, ["--metrics-port", "0"])
      // Every partition assigned (two topics of two): the tables are made, and the member is in the group.
      yield* written(ingest, "| partitions 4 |")
      assert.isNull(ingest.child.exitCode, ingest.output())
      assert.strictEqual(yield* groupMembers(s.group), 1)
      const catalog = s.options.catalog
      assert.strictEqual(catalog._tag, "sqlite")
      const db = new DatabaseSync(catalog._tag === "sqlite" ? catalog.path : "")
      db.exec("PRAGMA busy_timeout = 10000")
      // Another process's write transaction: every commit waits (and fails after SQLite's wait, retried).
      db.exec("BEGIN IMMEDIATE")
      const r = yield* publish(s, { eventsPerSymbolPerDay: 100 }).pipe(Effect.onError(() => Effect.sync(() => db.close())))
      // All read, none committed: the flushes wait on the lock.
      const allRead = (out: string) =>
        [...out.matchAll(/(\d+) messages, [^\n]*\| rows committed 0 \| [^\n]*\| lag 0 \|/g)].some((m) => Number(m[1]) >= expectedRows(r))
      for (let i = 0; i < 120 && !allRead(ingest.output()) && ingest.child.exitCode === null; i++) yield* Effect.sleep("250 millis")
      assert.isTrue(allRead(ingest.output()), ingest.output())
      ingest.child.kill("SIGTERM")
      // The drain meets the lock: nothing it read can be committed until it goes.
      yield* Effect.sleep("2 seconds")
      db.exec("COMMIT")
      db.close()
      const code = yield* Effect.promise(() => ingest.exited)
      assert.strictEqual(code, 0, ingest.output())
      assert.match(ingest.output(), /ingested in [\d.]+ s/)
      assert.strictEqual(yield* groupMembers(s.group), 0, "the stopped member left its group")
      // Committed by the drain itself: no restart was needed.
      assertExactlyOnce(yield* checkTables(s), r, "drained through the lock")
    }), 120_000)
})

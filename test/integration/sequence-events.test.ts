/**
 * Sequence integrity through real ingestion: the simulator injects gaps, duplicates,
 * out-of-order messages and resets into the real broker, a separate `ingest` process lands
 * them, and market_data.sequence_events lists exactly the injected anomalies.
 *
 * An injected out-of-order message arrives after its successor, so the tracker first sees
 * a one-message GAP (at the successor) and then the late message filling it (GAP_FILLED); an injected gap is
 * a GAP; a duplicate a DUPLICATE (dropped from the table); a reset a RESET.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { InjectedAnomaly } from "../../src/domain/feeds/events.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { checkTables, createTopics, publish, type Scenario, spawnIngest, stop, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

/** What the tracker reports for one injected anomaly: kind, stream, and the sequence it concerns. */
const expectedEvents = (a: InjectedAnomaly): ReadonlyArray<string> => {
  const stream = `${a.exchange}/${a.symbol}/${a.data_type}`
  switch (a.kind) {
    case "GAP":
      return [`GAP ${stream} received=${a.received}`]
    case "DUPLICATE":
      return [`DUPLICATE ${stream} received=${a.received}`]
    case "OUT_OF_ORDER":
      // The delayed message (received) is missed when its successor arrives, then fills the gap.
      return [`GAP ${stream} received=${a.received === null ? "?" : a.received + 1}`, `GAP_FILLED ${stream} received=${a.received}`]
    case "RESET":
      return [`RESET ${stream} received=${a.received}`]
    case "POISON":
      return []
  }
}

describe("sequence integrity through real ingestion", () => {
  it.live("sequence_events lists exactly the injected anomalies, no more, no fewer", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-seq-${exchange.toLowerCase()}`, partitions: 4, options: warehouseOptions("sqlite") }
      const manifestFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-seq-")), "manifest.json")
      yield* createTopics(s)
      const r = yield* publish(s, {
        symbols: ["BHP", "CBA", "CSL", "NAB"],
        eventsPerSymbolPerDay: 3_000,
        tradingDays: 2,
        faults: { gap: 0.002, duplicate: 0.002, outOfOrder: 0.002, reset: 0.5 },
        manifestFile
      })
      const injected = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as ReadonlyArray<InjectedAnomaly>
      const duplicates = injected.filter((a) => a.kind === "DUPLICATE").length
      assert.isAbove(injected.length, 20, "the simulator injected anomalies")
      for (const kind of ["GAP", "DUPLICATE", "OUT_OF_ORDER", "RESET"]) {
        assert.isTrue(injected.some((a) => a.kind === kind), `${kind} injected`)
      }

      const ingest = spawnIngest(s)
      yield* waitForRows(s, r.totals.trades + r.totals.quotes - duplicates, 240_000)
      yield* Effect.sleep("2 seconds")
      yield* stop(ingest)

      const tables = yield* checkTables(s)
      assert.strictEqual(tables.trades.rows + tables.quotes.rows, r.totals.trades + r.totals.quotes - duplicates)

      const reported = yield* Effect.gen(function*() {
        const plan = yield* (yield* TableScanner).plan({ namespace: "market_data", name: "sequence_events" })
        return yield* selectPlanned(
          plan,
          `kind, exchange, symbol, split_part(kafka_topic, '.', 3) AS data_type, received::VARCHAR AS received`
        )
      }).pipe(Effect.provide(Lakehouse.layer(s.options)))

      const actual = reported
        .map((e) => `${e.kind} ${e.exchange}/${e.symbol}/${e.data_type} received=${e.received}`)
        .sort()
      const expected = injected.flatMap(expectedEvents).sort()
      assert.deepStrictEqual(actual, expected)
    }), 600_000)
})

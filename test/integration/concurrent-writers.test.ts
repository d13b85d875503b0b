/**
 * Two independent writers (own catalog connection, DuckDB and caches) append to one
 * table at the same time: every commit lands once, none is lost to a lost race.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { makeTrades } from "../support/fixtures.ts"
import { type TestCatalog, warehouseOptions } from "../support/warehouse.ts"

const APPENDS = 50
const ROWS = 20
const trades = { namespace: "market_data", name: "trades" }

const writer = (options: Lakehouse.LakehouseOptions, name: string) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    let retried = 0
    for (let i = 0; i < APPENDS; i++) {
      const rows = makeTrades({ count: ROWS, idPrefix: name, offsetBase: i * ROWS })
      const outcome = yield* sink.append(trades, tradeColumns(rows), { properties: { "k2.writer": name } })
      retried += outcome.attempts - 1
    }
    return retried
  }).pipe(Effect.provide(Lakehouse.layer({ ...options, sink: { maxCommitAttempts: 100 } })))

const suite = (kind: TestCatalog) =>
  describe(`two concurrent writers (${kind} catalog)`, () => {
    it.live("commit 50 appends each: 100 snapshots, every row once", () =>
      Effect.gen(function*() {
        const options = warehouseOptions(kind)
        const check = Lakehouse.layer(options)
        yield* Effect.gen(function*() {
          yield* (yield* IcebergSink).ensureTable(tables.trades)
        }).pipe(Effect.provide(check))

        const [a, b] = yield* Effect.all([writer(options, "a"), writer(options, "b")], { concurrency: 2 })

        yield* Effect.gen(function*() {
          const plan = yield* (yield* TableScanner).plan(trades)
          assert.strictEqual(plan.snapshot?.summary["total-records"], String(2 * APPENDS * ROWS))
          const [counts] = yield* selectPlanned(
            plan,
            "count(*)::INTEGER AS n, count(DISTINCT message_id)::INTEGER AS ids"
          )
          assert.deepStrictEqual(counts, { n: 2 * APPENDS * ROWS, ids: 2 * APPENDS * ROWS })
          const snapshots = plan.snapshot === null ? [] : yield* ancestorsOf(plan.snapshot["snapshot-id"])
          assert.strictEqual(snapshots, 2 * APPENDS)
        }).pipe(Effect.provide(check))
        // Not an assertion on timing: a record that the writers did race, for the log.
        yield* Effect.log(`${kind}: retried commits a=${a} b=${b}`)
      }), 240_000)
  })

/** Snapshots reachable from `id` through parent links: a lost append would break the count. */
const ancestorsOf = (id: bigint) =>
  Effect.gen(function*() {
    const { metadata } = yield* (yield* Catalog).loadTable(trades)
    const byId = new Map(metadata.snapshots.map((s) => [s["snapshot-id"], s]))
    let n = 0
    for (let s = byId.get(id); s !== undefined; s = byId.get(s["parent-snapshot-id"] ?? -1n)) n++
    return n
  })

suite("sqlite")
suite("postgres")

/**
 * A warehouse whose path holds a space, non-ASCII letters and a `#` (`/home/José/my warehouse`):
 * Iceberg Java (HadoopFileIO) takes a `file:` location's path literally, so K2 must write its
 * locations unencoded, as Java writes Hadoop paths. Java reads what K2 wrote and appends; K2 reads
 * Java's files and removes no live file of either as an orphan. SQLite catalog only: no server.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { warehouseOptions } from "../support/warehouse.ts"
import { toJavaJson, tradesFor } from "./compare.ts"
import * as Harness from "./harness.ts"

const trades = { namespace: tables.trades.namespace, name: tables.trades.name }
const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-interop-paths-"))
const dir = path.join(root, "my wh é#1")
fs.mkdirSync(dir)
const options = warehouseOptions("sqlite", dir)
const target: Harness.HarnessTarget = {
  uri: Harness.jdbcSqlite(path.join(dir, "catalog.db")),
  warehouse: dir,
  table: `${trades.namespace}.${trades.name}`,
  catalog: options.catalogName!
}
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
beforeAll(() => Harness.buildHarness(), 10 * 60_000)

const lakehouse = Lakehouse.layer(options)
layer(Layer.mergeAll(lakehouse, MaintenanceLayer.layer().pipe(Layer.provide(lakehouse)), Harness.IcebergJava.layer), {
  excludeTestServices: true,
  timeout: "5 minutes"
})("a warehouse path with a space, non-ASCII letters and a #", (it) => {
  it.effect("Iceberg Java reads and appends to K2's table there; K2 reads Java's rows and keeps every live file", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const java = yield* Harness.IcebergJava
      yield* sink.ensureTable(tables.trades)
      const ours = tradesFor({ count: 40, days: 2, idPrefix: "k2" })
      yield* sink.append(trades, tradeColumns(ours))
      const read = yield* java.run(target, { command: "read" })
      assert.sameMembers(read.map((r) => r.trade_id), ours.map((r) => r.trade_id))

      const theirs = tradesFor({ count: 10, days: 1, idPrefix: "java", offsetBase: 10_000 })
      const rowsFile = path.join(root, "java-rows.jsonl")
      fs.writeFileSync(rowsFile, theirs.map((r) => JSON.stringify(toJavaJson(r))).join("\n") + "\n")
      yield* java.run(target, { command: "append", options: { rows: rowsFile } })
      const ids = Effect.gen(function*() {
        const plan = yield* (yield* TableScanner).plan(trades)
        return (yield* selectPlanned(plan, "trade_id")).map((r) => r.trade_id)
      })
      assert.sameMembers(yield* ids, [...ours, ...theirs].map((r) => r.trade_id))

      const orphans = yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.deepStrictEqual(orphans.removed, [])
      assert.strictEqual((yield* java.run(target, { command: "read" })).length, ours.length + theirs.length)
    }))
})

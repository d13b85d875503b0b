/**
 * Process CPU of one poll of the integration tests' `waitForRows` (ADR-79) over an existing SQLite
 * warehouse: the full `checkTables` (DuckDB counts rows, distinct coordinates and distinct message
 * ids) against `committedRows` (the snapshot summaries). Usage:
 *   npm exec -- node --disable-warning=ExperimentalWarning bench/waitPollCost.ts <warehouse> [polls]
 */
import { Effect } from "effect"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { checkTables, committedRows, type Scenario } from "../test/support/ingestHarness.ts"

const warehouse = process.argv[2]
if (warehouse === undefined) throw new Error("usage: bench/waitPollCost.ts <warehouse with catalog.db> [polls]")
const polls = Number(process.argv[3] ?? 5)
const s: Scenario = {
  exchange: "X",
  group: "g",
  partitions: 1,
  options: { warehouse, catalog: { _tag: "sqlite", path: `${warehouse}/catalog.db` } }
}
const cpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

let start = cpuMs()
for (let i = 0; i < polls; i++) {
  const c = await Effect.runPromise(checkTables(s))
  if (i === 0) console.log(`checkTables: ${JSON.stringify(c)}`)
}
console.log(`checkTables: ${((cpuMs() - start) / polls).toFixed(0)} ms CPU a poll`)
start = cpuMs()
await Effect.runPromise(Effect.gen(function*() {
  for (let i = 0; i < polls; i++) {
    const rows = yield* committedRows
    if (i === 0) console.log(`committedRows: ${rows}`)
  }
}).pipe(Effect.provide(Lakehouse.storageLayer(s.options))))
console.log(`committedRows: ${((cpuMs() - start) / polls).toFixed(0)} ms CPU a poll`)

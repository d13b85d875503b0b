/**
 * `npm run compact` on a warehouse directory another catalog also uses: its same-named table lives
 * at the same location, and orphan removal would delete that table's files. The step is refused,
 * the run exits 1 naming the table and the other table's metadata, and every file stays.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { makeTrades } from "../support/fixtures.ts"
import { spawnProgram } from "../support/programs.ts"
import { sharingLocation, tempWarehouse } from "../support/warehouse.ts"

const filesUnder = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort()

describe("npm run compact, a table location another catalog's table shares", () => {
  it.live("refuses orphan removal, exits 1 naming the other table's metadata, and removes nothing", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const withRows = (catalogFile: string, idPrefix: string) =>
        Effect.gen(function*() {
          const sink = yield* IcebergSink
          yield* sink.ensureTable(tables.trades)
          yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 20, days: 1, idPrefix })))
          return yield* (yield* Catalog).loadTable(tables.trades)
        }).pipe(Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, catalogFile) } })))
      yield* withRows("catalog.db", "k2-")
      const location = path.join(dir, "market_data", "trades")
      // Another catalog (here a second SQLite file) on the same warehouse directory, whose engine does
      // not look where it creates the table (K2 refuses to since ADR-47).
      const other = yield* sharingLocation(location, withRows("other-catalog.db", "other-"))
      const old = new Date(Date.now() - 3 * 86_400_000)
      for (const f of filesUnder(location)) fs.utimesSync(f, old, old)
      const before = filesUnder(location).filter((f) => f.endsWith(".parquet"))
      const run = spawnProgram("compact", ["--warehouse", dir, "--tables", "market_data.trades", "--skip-compaction", "--skip-expiry"])
      const code = yield* Effect.promise(() => run.exited)
      const output = run.output()
      assert.strictEqual(code, 1, output)
      assert.include(output, "market_data.trades failed")
      assert.include(output, "refused, nothing removed")
      assert.include(output, path.basename(other.metadataLocation))
      assert.deepStrictEqual(filesUnder(location).filter((f) => f.endsWith(".parquet")), before)
    }), 60_000)
})

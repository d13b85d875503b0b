/**
 * The warehouse and catalog the flags name, read in-process (test/programs/moved-warehouse.test.ts
 * and query-usage.test.ts run the programs): which catalog, whether it must exist already, and a
 * warehouse copied as a folder refused by name.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { DuckDb, query } from "../../src/layers/duckdb/DuckDb.ts"
import { existingLakehouse, lakehouseOf, missingSqliteCatalog, MovedWarehouse, NoWarehouse } from "../../src/programs/cli/lakehouse.ts"
import { tempWarehouse, tradesWarehouse } from "../support/warehouse.ts"

const settings = (warehouse: string, catalog?: string) => ({ warehouse, catalog: Option.fromUndefinedOr(catalog), catalogName: "k2" })

const built = <A, E>(layer: Layer.Layer<A, E>) => Effect.exit(Effect.scoped(Layer.build(layer)))

const failure = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined

describe("the catalog the flags name", () => {
  it("by default <warehouse>/catalog.db, missing until made; an empty K2_CATALOG is none given", () => {
    const dir = tempWarehouse()
    assert.strictEqual(missingSqliteCatalog(settings(dir)), path.join(path.resolve(dir), "catalog.db"))
    assert.strictEqual(missingSqliteCatalog(settings(dir, "")), path.join(path.resolve(dir), "catalog.db"))
    assert.strictEqual(missingSqliteCatalog(settings(dir, " ")), path.join(path.resolve(dir), "catalog.db"))
    fs.writeFileSync(path.join(dir, "catalog.db"), "")
    assert.isUndefined(missingSqliteCatalog(settings(dir)))
  })

  it("a SQLite file given is looked for where it is named; a PostgreSQL or REST URL is no file", () => {
    const dir = tempWarehouse()
    assert.strictEqual(missingSqliteCatalog(settings(dir, path.join(dir, "other.db"))), path.join(dir, "other.db"))
    for (const url of ["postgres://db/k2", "postgresql://db/k2", "http://rest:8181", "https://rest"]) {
      assert.isUndefined(missingSqliteCatalog(settings(dir, url)), url)
    }
  })
})

describe("the warehouse a reading program opens", () => {
  it.effect("one that holds no catalog is refused (a typo made an empty warehouse that answered no such table)", () =>
    Effect.gen(function*() {
      const dir = path.join(tempWarehouse(), "typo")
      const error = failure(yield* built(existingLakehouse(settings(dir))))
      assert.instanceOf(error, NoWarehouse, String(error))
      assert.isFalse(fs.existsSync(dir), "not made")
    }))

  it.effect("one with its tables inside opens; a copy of it, whose catalog names the original's tables, is refused by name", () =>
    Effect.gen(function*() {
      const original = yield* tradesWarehouse(10)
      assert.isTrue(Exit.isSuccess(yield* built(existingLakehouse(settings(original)))))
      const copy = `${original}-copy`
      fs.cpSync(original, copy, { recursive: true })
      const error = failure(yield* built(lakehouseOf(settings(copy))))
      assert.instanceOf(error, MovedWarehouse, String(error))
      assert.include((error as MovedWarehouse).message, original)
    }))
})

describe("DuckDB's options", () => {
  it.effect("given (ingest reads them once, at its start), the lakehouse opens with them and reads no K2_DUCKDB_* again", () =>
    Effect.gen(function*() {
      const limit = yield* Effect.gen(function*() {
        const rows = yield* (yield* DuckDb).withConnection((c) => query(c, "probe", "SELECT current_setting('memory_limit') AS m"))
        return String(rows[0]?.["m"])
      }).pipe(
        Effect.provide(lakehouseOf({ ...settings(tempWarehouse()), duckDb: { connections: 1, threads: 1, memoryLimit: "100MiB" } })),
        // Read again, this would be refused.
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: "lots" }))
      )
      assert.strictEqual(limit, "100.0 MiB")
    }))
})

import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tables } from "../../../src/domain/tables.ts"
import { type SqlDriver, sqliteDriver } from "../../../src/layers/catalog/drivers.ts"
import * as Catalogs from "../../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import type { CatalogUnavailable } from "../../../src/services/Catalog.ts"
import { catalogContract } from "./catalogContract.ts"

catalogContract("in-memory SQLite, in-memory files", () =>
  Catalogs.layerMemory({ name: "k2", warehouse: "file:///warehouse" }).pipe(Layer.provide(FileIOs.layerMemory)))

catalogContract("SQLite file, local files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-catalog-"))
  return Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
    .pipe(Layer.provide(FileIOs.layer))
})

describe("SQL catalog: a failing database", () => {
  type Mode = "none" | "throw" | "reject"
  /** In-memory SQLite whose reads fail once `failing` is set: by throwing (as SQLite does) or rejecting (as pg does). */
  const flaky = (failing: { mode: Mode }): SqlDriver => {
    const sqlite = sqliteDriver(":memory:")
    return {
      ...sqlite,
      query: (sql, params) => {
        if (failing.mode === "throw") throw new Error("disk I/O error")
        if (failing.mode === "reject") return Promise.reject(new Error("Connection terminated"))
        return sqlite.query(sql, params)
      }
    }
  }

  for (const mode of ["throw", "reject"] as const) {
    it.effect(`a read that fails (${mode}) is CatalogUnavailable with the driver's message`, () =>
      Effect.gen(function*() {
        const failing: { mode: Mode } = { mode: "none" }
        const catalog = yield* Catalogs.make(flaky(failing), { name: "k2", warehouse: "file:///warehouse" })
        yield* catalog.createNamespace("market_data")
        yield* catalog.createTable({ namespace: "market_data", name: "trades" }, tables.trades)
        failing.mode = mode
        const error = yield* Effect.flip(catalog.loadTable({ namespace: "market_data", name: "trades" }))
        assert.strictEqual(error.reason._tag, "CatalogUnavailable")
        assert.include((error.reason as CatalogUnavailable).detail, mode === "throw" ? "disk I/O error" : "Connection terminated")
        failing.mode = "none"
        const loaded = yield* catalog.loadTable({ namespace: "market_data", name: "trades" })
        assert.strictEqual(loaded.identifier.name, "trades")
      }).pipe(Effect.provide(FileIOs.layerMemory)))
  }
})

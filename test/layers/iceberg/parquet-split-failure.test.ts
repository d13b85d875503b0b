/** A partition split into pieces (over the target size) whose writing fails part way leaves no Parquet file behind. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { makeTrades } from "../../support/fixtures.ts"

/** DuckDB whose `failAt`-th statement copying a piece of a split file fails (as on a full disk). */
const failingPieces = (failAt: number) =>
  Layer.effect(DuckDb)(Effect.gen(function*() {
    const duckDb = yield* DuckDb
    let pieces = 0
    const wrap = (connection: DuckDBConnection): DuckDBConnection =>
      new Proxy(connection, {
        get(target, prop) {
          if (prop === "prepare") {
            return (sql: string) => {
              if (sql.includes("file_row_number") && ++pieces === failAt) return Promise.reject(new Error("No space left on device"))
              return target.prepare(sql)
            }
          }
          const value = Reflect.get(target, prop, target)
          return typeof value === "function" ? value.bind(target) : value
        }
      })
    return DuckDb.of({ ...duckDb, withConnection: (use) => duckDb.withConnection((c) => use(wrap(c))) })
  })).pipe(Layer.provide(DuckDb.layerWith({})))

const parquetUnder = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet")) : []

describe("writeDataFiles: a split that fails part way", () => {
  it.effect("removes the pieces already written and the file being split", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "k2-split-"))
      const exit = yield* Effect.exit(writeDataFiles(tradeColumns(makeTrades({ count: 20_000, days: 1 })), {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory,
        targetFileSizeBytes: 64 * 1024,
        rowGroupSize: 2048,
        fileNamePrefix: "k2"
      }))
      assert.isTrue(exit._tag === "Failure", "the write failed")
      assert.deepStrictEqual(parquetUnder(directory), [], "nothing references these files")
    }).pipe(Effect.provide(failingPieces(2))))
})

/**
 * Damaged tables: every corrupt, truncated or missing file gives a typed error that
 * names the path, and nothing else in the warehouse is touched.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import type { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const quotes = { namespace: "market_data", name: "quotes" }

/** The failure's leaf: the file error's reason tag and path, whatever wraps it. */
const fileFailure = (error: unknown): { tag: string; path: string } => {
  let e = error as { _tag: string; reason?: unknown; path?: string }
  while (e.reason !== undefined && e.path === undefined) e = e.reason as typeof e
  return { tag: e._tag, path: e.path ?? "" }
}

const damage = {
  garbage: (p: string) => fs.writeFileSync(p, "this is not what it claims to be"),
  truncate: (p: string) => fs.truncateSync(p, Math.floor(fs.statSync(p).size / 2)),
  remove: (p: string) => fs.rmSync(p)
}

/** A table of two snapshots and a healthy neighbour; returns the files of the current snapshot. */
const setUp = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable({ ...tables.trades, name: "quotes" })
  yield* sink.append(trades, tradeColumns(makeTrades({ count: 100 })))
  const last = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100, offsetBase: 100 })))
  yield* sink.append(quotes, tradeColumns(makeTrades({ count: 10 })))
  const plan = yield* (yield* TableScanner).plan(trades)
  const manifests = plan.files.length > 0 ? last.snapshot["manifest-list"] : ""
  return { metadata: localPath(last.table.metadataLocation), manifestList: localPath(manifests), plan }
})

/** The healthy neighbour still reads in full. */
const neighbourIntact = Effect.gen(function*() {
  const plan = yield* (yield* TableScanner).plan(quotes)
  const [row] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
  assert.strictEqual(row!.n, 10)
})

/**
 * Builds the tables in one process, damages a file, then checks from a fresh one
 * (metadata files are immutable, so a running process may rightly serve them from cache).
 */
const afterDamage = <A, E>(
  damageFiles: (files: Effect.Success<typeof setUp>) => void,
  check: (files: Effect.Success<typeof setUp>) => Effect.Effect<A, E, Catalog | IcebergSink | TableScanner | DuckDb>
) =>
  Effect.gen(function*() {
    const options = warehouseOptions("sqlite")
    const files = yield* setUp.pipe(Effect.provide(Lakehouse.layer(options)))
    damageFiles(files)
    return yield* check(files).pipe(Effect.provide(Lakehouse.layer(options)))
  })

describe("damaged tables", () => {
  for (const [how, apply] of Object.entries(damage)) {
    const expected = how === "remove" ? "MissingFile" : "CorruptFile"

    it.effect(`metadata.json ${how}: typed error naming the file; writes refused; neighbour intact`, () =>
      afterDamage((f) => apply(f.metadata), ({ metadata }) =>
        Effect.gen(function*() {
          const failure = fileFailure(yield* Effect.flip((yield* Catalog).loadTable(trades)))
          assert.deepStrictEqual({ ...failure, path: localPath(failure.path) }, { tag: expected, path: metadata })
          const write = yield* Effect.flip((yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 1 }))))
          assert.strictEqual(localPath(fileFailure(write).path), metadata)
          yield* neighbourIntact
        })))

    it.effect(`manifest list ${how}: typed error naming the file; pointer unmoved; neighbour intact`, () =>
      afterDamage((f) => apply(f.manifestList), ({ manifestList }) =>
        Effect.gen(function*() {
          const failure = fileFailure(yield* Effect.flip((yield* TableScanner).plan(trades)))
          assert.deepStrictEqual({ ...failure, path: localPath(failure.path) }, { tag: expected, path: manifestList })
          const before = (yield* (yield* Catalog).loadTable(trades)).metadataLocation
          yield* Effect.flip((yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 1 }))))
          assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadataLocation, before)
          yield* neighbourIntact
        })))

    it.effect(`data file ${how}: typed error naming the file; neighbour intact`, () =>
      afterDamage((f) => apply(localPath(f.plan.files[0]!.filePath)), ({ plan }) =>
        Effect.gen(function*() {
          const failure = fileFailure(yield* Effect.flip(selectPlanned(plan, "count(*) AS n")))
          assert.deepStrictEqual(failure, { tag: expected, path: localPath(plan.files[0]!.filePath) })
          yield* neighbourIntact
        })))
  }

  it.effect("manifests that are garbage: typed error naming one", () =>
    afterDamage(({ manifestList }) => {
      const dir = path.dirname(manifestList)
      for (const m of fs.readdirSync(dir).filter((f) => f.endsWith("-m0.avro"))) damage.garbage(path.join(dir, m))
    }, () =>
      Effect.gen(function*() {
        const failure = fileFailure(yield* Effect.flip((yield* TableScanner).plan(trades)))
        assert.strictEqual(failure.tag, "CorruptFile")
        assert.match(failure.path, /-m0\.avro$/)
      })))

  it.effect("a catalog row pointing nowhere: MissingFile naming the pointer", () =>
    afterDamage(({ metadata }) => fs.rmSync(path.dirname(metadata), { recursive: true }), ({ metadata }) =>
      Effect.gen(function*() {
        const failure = fileFailure(yield* Effect.flip((yield* TableScanner).plan(trades)))
        assert.deepStrictEqual({ ...failure, path: localPath(failure.path) }, { tag: "MissingFile", path: metadata })
        yield* neighbourIntact
      })))
})

/** Lakehouse layers over a fresh temporary warehouse, for tests. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Deferred, Effect, Layer } from "effect"
import type { ColumnBatch } from "../../src/domain/columnBatch.ts"
import { defaultMergePolicy } from "../../src/domain/iceberg/manifestPlan.ts"
import { currentSnapshot, dataDirectory, defaultSortOrder, defaultSpec, newSnapshotId } from "../../src/domain/iceberg/metadata.ts"
import type { PartitionSpec, Schema, TableMetadata } from "../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { DuckDb, query } from "../../src/layers/duckdb/DuckDb.ts"
import { quoteIdent, quoteLiteral } from "../../src/layers/duckdb/sqlText.ts"
import { commitChange } from "../../src/layers/iceberg/commit.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import { writeDataFiles } from "../../src/layers/iceberg/parquet.ts"
import { makeSnapshotFiles } from "../../src/layers/iceberg/snapshotFiles.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import { Catalog, type CatalogError, catalogError, CatalogRejected, CatalogUnavailable, type TableIdentifier } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { makeTrades } from "./fixtures.ts"
import { postgresUrl, uniqueCatalogName } from "./postgres.ts"

export const tempWarehouse = () => fs.mkdtempSync(path.join(os.tmpdir(), "k2-wh-"))

/** A warehouse name with every character of note: DuckDB's glob characters, braces, a space, quotes, `%`, `#`, non-ASCII. */
export const ODD_NAME = "wh[1] *?{a} 'q\" %41 #é日"
/** A directory `ODD_NAME` matches as a glob pattern (`[1]` is `1`, ` *?` a space and at least one character). */
export const ODD_NAME_MATCH = "wh1 x{a} 'q\" %41 #é日"

const parquetFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet")).map((f) => path.join(dir, f))

/**
 * `sibling` made anew from the warehouse `dir`: the same files, each holding its rows twice. A decoy
 * for a warehouse whose path DuckDB would glob: a read that matched the sibling counts double.
 */
export const mirrorDoubled = (dir: string, sibling: string) =>
  Effect.gen(function*() {
    fs.rmSync(sibling, { recursive: true, force: true })
    fs.cpSync(dir, sibling, { recursive: true })
    const duckDb = yield* DuckDb
    for (const file of parquetFiles(sibling)) {
      const doubled = `${file}.tmp`
      yield* duckDb.withConnection((c) =>
        query(c, "double", `COPY (SELECT * FROM read_parquet(${quoteLiteral(file)}) UNION ALL SELECT * FROM read_parquet(${quoteLiteral(file)})) TO ${quoteLiteral(doubled)} (FORMAT parquet)`)
      )
      fs.renameSync(doubled, file)
    }
  })

export type TestCatalog = "sqlite" | "postgres"

/** Options for a warehouse directory and a catalog; a PostgreSQL catalog gets a name of its own. */
export const warehouseOptions = (
  kind: TestCatalog,
  dir = tempWarehouse(),
  catalogName = kind === "postgres" ? uniqueCatalogName() : "k2"
): Lakehouse.LakehouseOptions => ({
  warehouse: dir,
  catalogName,
  catalog: kind === "sqlite" ? { _tag: "sqlite", path: path.join(dir, "catalog.db") } : { _tag: "postgres", url: postgresUrl }
})

/** The plain lakehouse of `options` (by default a fresh SQLite warehouse's) with maintenance over it. */
export const maintainedLakehouse = (options: Lakehouse.LakehouseOptions = warehouseOptions("sqlite")) =>
  MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer(options)))

/** The lakehouse of `options` with its catalog wrapped (fault injection): the sink and every user see the wrapper. */
export const lakehouseWrapping = (
  options: Lakehouse.LakehouseOptions,
  wrap: (catalog: Catalog["Service"]) => Catalog["Service"]
) =>
  Lakehouse.layerOn(
    Layer.effect(Catalog)(Effect.gen(function*() {
      return wrap(yield* Catalog)
    })).pipe(Layer.provideMerge(Lakehouse.storageLayer(options))),
    options.sink
  )

/**
 * The lakehouse of `options` noting, by reason, every failure its catalog's table loads and commits
 * met (a fault run: which faults reached the sink, and that none but the retried ones did).
 */
export const lakehouseNotingFailures = (options: Lakehouse.LakehouseOptions) => {
  const failures = new Map<string, number>()
  const noted = (e: CatalogError) => Effect.sync(() => void failures.set(e.reason._tag, (failures.get(e.reason._tag) ?? 0) + 1))
  const lakehouse = lakehouseWrapping(options, (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) => catalog.loadTable(id).pipe(Effect.tapError(noted)),
      commitTable: (id, requirements, updates) => catalog.commitTable(id, requirements, updates).pipe(Effect.tapError(noted))
    }))
  return { lakehouse, failures }
}

/**
 * A slow catalog on demand: once `hold()` arms it, the next table load through `wrap`'s catalog
 * waits for `gate`, saying so with `loading` (a restart caught while it reads the tables).
 */
export const holdingLoads = Effect.gen(function*() {
  let armed = false
  const loading = yield* Deferred.make<void>()
  const gate = yield* Deferred.make<void>()
  const wrap = (catalog: Catalog["Service"]): Catalog["Service"] =>
    Catalog.of({
      ...catalog,
      loadTable: (id) =>
        Effect.suspend(() => {
          if (!armed) return catalog.loadTable(id)
          armed = false
          return Deferred.succeed(loading, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.andThen(catalog.loadTable(id)))
        })
    })
  return { gate, hold: () => void (armed = true), loading, wrap }
})

/**
 * A SQLite lakehouse in `dir` whose catalog loads a table with `schemaOf(table name)` (when it gives
 * one) added as the current schema: another engine's schema change as K2 meets it (K2's catalog
 * updates cannot add a schema), with `propertiesOf(table name)` set then too. K2's sink then writes
 * with it, as with any current schema.
 */
export const evolvingLakehouse = (
  dir: string,
  schemaOf: (table: string) => Schema | undefined,
  propertiesOf: (table: string) => Readonly<Record<string, string>> = () => ({})
) => {
  const evolved = (name: string, m: TableMetadata): TableMetadata => {
    const schema = schemaOf(name)
    if (schema === undefined) return m
    return {
      ...m,
      properties: { ...m.properties, ...propertiesOf(name) },
      schemas: [...m.schemas, schema],
      "current-schema-id": schema["schema-id"],
      "last-column-id": Math.max(m["last-column-id"], ...schema.fields.map((f) => f.id))
    }
  }
  return lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) => Effect.map(catalog.loadTable(id), (t) => ({ ...t, metadata: evolved(id.name, t.metadata) })),
      commitTable: (id, requirements, updates) =>
        Effect.map(catalog.commitTable(id, requirements, updates), (t) => ({ ...t, metadata: evolved(id.name, t.metadata) }))
    }))
}

/**
 * The lakehouse of `options` whose catalog refuses every table load while `refuse(true)` holds (a
 * catalog answering 403 for a while); `refused` completes at the first refusal.
 */
export const lakehouseRefusingLoads = (options: Lakehouse.LakehouseOptions) =>
  Effect.gen(function*() {
    let on = false
    const refused = yield* Deferred.make<void>()
    const lakehouse = lakehouseWrapping(options, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.suspend(() =>
            on
              ? Deferred.succeed(refused, undefined).pipe(
                Effect.andThen(Effect.fail(catalogError(new CatalogRejected({ detail: "injected" }))))
              )
              : catalog.loadTable(id)
          )
      }))
    return { lakehouse, refused, refuse: (value: boolean) => void (on = value) }
  })

/**
 * The lakehouse of `options` whose catalog holds every commit made while `stall(true)` holds (a slow
 * or hanging catalog): the commit completes `stalled`, waits for `release`, then is made, or
 * fails with `failWith` if given (a connection lost meanwhile).
 */
export const lakehouseStallingCommits = (options: Lakehouse.LakehouseOptions, failWith?: CatalogError) =>
  Effect.gen(function*() {
    let on = false
    const stalled = yield* Deferred.make<void>()
    const released = yield* Deferred.make<void>()
    const lakehouse = lakehouseWrapping(options, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() =>
            on
              ? Deferred.succeed(stalled, undefined).pipe(
                Effect.andThen(Deferred.await(released)),
                Effect.andThen(failWith === undefined ? catalog.commitTable(id, requirements, updates) : Effect.fail(failWith))
              )
              : catalog.commitTable(id, requirements, updates)
          )
      }))
    return { lakehouse, stalled, stall: (value: boolean) => void (on = value), release: Deferred.succeed(released, undefined) }
  })

/** The lakehouse of `options` whose catalog refuses a table's commit as unavailable while `refuses(table)` says so (asked at each commit). */
export const lakehouseRefusingCommits = (options: Lakehouse.LakehouseOptions, refuses: (table: string) => boolean) =>
  lakehouseWrapping(options, (catalog) =>
    Catalog.of({
      ...catalog,
      commitTable: (id, requirements, updates) =>
        Effect.suspend(() =>
          refuses(id.name)
            ? Effect.fail(catalogError(new CatalogUnavailable({ detail: "injected outage" })))
            : catalog.commitTable(id, requirements, updates)
        )
    }))

/**
 * A SQLite lakehouse whose tables read as another engine left them once `swap.list` is set: every
 * snapshot's manifest list is `swap.list`, and `swap.spec` (if set) is among the partition specs.
 */
export const swappingLakehouse = () => {
  const swap: { list?: string | undefined; spec?: PartitionSpec | undefined } = {}
  const dir = tempWarehouse()
  const layer = lakehouseWrapping(warehouseOptions("sqlite", dir), (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) =>
        Effect.map(catalog.loadTable(id), (t) =>
          swap.list === undefined ? t : {
            ...t,
            metadata: {
              ...t.metadata,
              "partition-specs": [...t.metadata["partition-specs"], ...(swap.spec === undefined ? [] : [swap.spec])],
              snapshots: t.metadata.snapshots.map((s) => ({ ...s, "manifest-list": swap.list! }))
            }
          })
    }))
  return { swap, dir, layer }
}


/**
 * `effect` run as an engine that does not look where it creates a table would run it (Iceberg Java's
 * catalogs, a K2 before ADR-47): the metadata files already at the local table `location` are set
 * aside meanwhile and put back after, beside the ones `effect` wrote, as two tables sharing the place.
 */
export const sharingLocation = <A, E, R>(location: string, effect: Effect.Effect<A, E, R>) => {
  const dir = path.join(localPath(location), "metadata")
  const aside = `${dir}.aside`
  return Effect.acquireUseRelease(
    Effect.sync(() => fs.renameSync(dir, aside)),
    () => effect,
    () =>
      Effect.sync(() => {
        fs.cpSync(aside, dir, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false })
        fs.rmSync(aside, { recursive: true })
      })
  )
}
/** A fresh SQLite warehouse holding a day of `count` trades and an empty quotes table; its directory. */
export const tradesWarehouse = (count = 100) =>
  Effect.gen(function*() {
    const dir = tempWarehouse()
    yield* Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(tables.trades, tradeColumns(makeTrades({ count, days: 1 })))
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite", dir))))
    return dir
  })

/**
 * What Spark's rewrite and `expire_snapshots(retain_last => 1)` do to K2's bookkeeping: a snapshot
 * without K2's summary keys (same files) becomes current, and every other snapshot is expired.
 */
export const expireAsAnotherEngine = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const m = (yield* catalog.loadTable(id)).metadata
    const parent = currentSnapshot(m)!
    const foreign = {
      ...parent,
      "snapshot-id": newSnapshotId(),
      "parent-snapshot-id": parent["snapshot-id"],
      "sequence-number": m["last-sequence-number"] + 1n,
      summary: { operation: "replace" as const }
    }
    yield* catalog.commitTable(id, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": parent["snapshot-id"] }], [
      { action: "add-snapshot", snapshot: foreign },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": foreign["snapshot-id"] },
      { action: "remove-snapshots", "snapshot-ids": m.snapshots.map((s) => s["snapshot-id"]) }
    ])
  })

/**
 * Another engine's `add_files` of `batch`: Parquet files written without field ids (DuckDB's COPY
 * without FIELD_IDS, as files written outside Iceberg are), their columns under `rename`'s names,
 * committed as an append with K2's metrics (the values are the same).
 */
export const importWithoutFieldIds = (table: TableIdentifier, batch: ColumnBatch, rename: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const m = (yield* (yield* Catalog).loadTable(table)).metadata
    const written = yield* writeDataFiles(batch, {
      schema: m.schemas.find((s) => s["schema-id"] === m["current-schema-id"])!,
      spec: defaultSpec(m),
      sortOrder: defaultSortOrder(m),
      directory: dataDirectory(m),
      targetFileSizeBytes: 1 << 30,
      fileNamePrefix: "imported"
    })
    const duckDb = yield* DuckDb
    const added = yield* Effect.forEach(written, (f) =>
      Effect.gen(function*() {
        const from = localPath(f.filePath)
        const to = from.replace(/\.parquet$/, "-no-ids.parquet")
        const renamed = Object.entries(rename).map(([a, b]) => `${quoteIdent(a)} AS ${quoteIdent(b)}`)
        const select = renamed.length === 0 ? "*" : `* RENAME (${renamed.join(", ")})`
        yield* duckDb.withConnection((c) => query(c, "import", `COPY (SELECT ${select} FROM read_parquet('${from}')) TO '${to}' (FORMAT parquet)`))
        fs.rmSync(from)
        return { ...f, filePath: to, fileSizeInBytes: fs.statSync(to).size }
      }))
    const snapshots = yield* makeSnapshotFiles({ cacheEntries: 100 })
    yield* commitChange(snapshots, table, { operation: "append", added, removed: [], properties: {} }, { mergePolicy: defaultMergePolicy, maxAttempts: 3 })
  })

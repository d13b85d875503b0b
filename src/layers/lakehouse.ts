/**
 * The lakehouse core as one layer: storage, a catalog, DuckDB, the sink and the
 * scanner. Programs and tests pick the catalog; DuckDB's pool and threads come from
 * config (K2_DUCKDB_CONNECTIONS, K2_DUCKDB_THREADS, K2_DUCKDB_MEMORY_LIMIT) unless the
 * options give them (read once by a program that checked them at its start); everything else follows.
 */
import * as path from "node:path"
import { Layer } from "effect"
import * as RestCatalog from "./catalog/rest.ts"
import type { RestCatalogOptions } from "./catalog/restOptions.ts"
import * as SqlCatalog from "./catalog/sql.ts"
import { DuckDb, type DuckDbOptions } from "./duckdb/DuckDb.ts"
import * as FileIOLayers from "./iceberg/fileio.ts"
import * as Planner from "./iceberg/planner.ts"
import * as Sink from "./iceberg/sink.ts"
import type { Catalog } from "../services/Catalog.ts"
import type { FileIO } from "../services/FileIO.ts"

export type CatalogChoice =
  | { readonly _tag: "sqlite"; readonly path: string }
  | { readonly _tag: "postgres"; readonly url: string }
  | { readonly _tag: "memory" }
  | ({ readonly _tag: "rest" } & Omit<RestCatalogOptions, "name" | "tableLocationRoot">)

export interface LakehouseOptions {
  /** Local directory holding table data and metadata. */
  readonly warehouse: string
  readonly catalog: CatalogChoice
  /** `catalog_name` in the SQL catalog tables. */
  readonly catalogName?: string
  readonly sink?: Sink.SinkOptions
  /** DuckDB's options (`DuckDb.settings`); unset, read from config as the layer is built. */
  readonly duckDb?: DuckDbOptions | undefined
}

export const catalogLayer = (options: LakehouseOptions) => {
  const common = {
    name: options.catalogName ?? "k2",
    warehouse: FileIOLayers.fileLocation(path.resolve(options.warehouse))
  }
  const choice = options.catalog
  switch (choice._tag) {
    case "sqlite":
      return SqlCatalog.layerSqlite({ ...common, path: choice.path })
    case "postgres":
      return SqlCatalog.layerPostgres({ ...common, url: choice.url })
    case "memory":
      return SqlCatalog.layerMemory(common)
    case "rest": {
      const { _tag, ...rest } = choice
      // New tables go under the local warehouse, where K2 writes their data files.
      return RestCatalog.layer({ ...rest, name: common.name, tableLocationRoot: common.warehouse })
    }
  }
}

/** The catalog of `options` and the local storage it writes to. */
export const storageLayer = (options: LakehouseOptions) => catalogLayer(options).pipe(Layer.provideMerge(FileIOLayers.layer))

/** DuckDB, the sink and the scanner over a catalog and storage (tests wrap the catalog to inject faults). */
export const layerOn = <E, R>(storage: Layer.Layer<Catalog | FileIO, E, R>, sink?: Sink.SinkOptions, duckDb?: DuckDbOptions) =>
  Layer.mergeAll(Sink.layer(sink), Planner.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(storage, duckDb === undefined ? DuckDb.layerConfig : DuckDb.layerWith(duckDb)))
  )

export const layer = (options: LakehouseOptions) => layerOn(storageLayer(options), options.sink, options.duckDb)

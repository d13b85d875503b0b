/**
 * The catalogs the interop tests run on (SQL on SQLite and PostgreSQL; Apache's REST catalog
 * server): K2's options for one, and Iceberg Java's way to a table through the same catalog.
 */
import * as path from "node:path"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import type { TableIdentifier } from "../../src/services/Catalog.ts"
import { postgresUrl } from "../support/postgres.ts"
import { tempWarehouse, type TestCatalog, warehouseOptions } from "../support/warehouse.ts"
import * as Harness from "./harness.ts"
import { restCatalogUri, uniqueParent } from "./restCatalog.ts"

export type InteropCatalog = TestCatalog | "rest"

/** K2's side of one catalog and Iceberg Java's way to a table through it. */
export const sides = (kind: InteropCatalog): {
  readonly options: Lakehouse.LakehouseOptions
  readonly targetOf: (table: TableIdentifier) => Harness.HarnessTarget
} => {
  if (kind === "rest") {
    // Our tables live below a namespace of this run's own on the shared server.
    const parentNamespace = uniqueParent("k2_interop")
    return {
      options: { warehouse: tempWarehouse(), catalogName: "k2", catalog: { _tag: "rest", uri: restCatalogUri, parentNamespace } },
      targetOf: (table) => ({ uri: restCatalogUri, table: `${parentNamespace}.${table.namespace}.${table.name}`, catalog: "k2" })
    }
  }
  const options = warehouseOptions(kind)
  return {
    options,
    targetOf: (table) => ({
      uri: kind === "sqlite" ? Harness.jdbcSqlite(path.join(options.warehouse, "catalog.db")) : Harness.jdbcPostgres(postgresUrl),
      warehouse: options.warehouse,
      table: `${table.namespace}.${table.name}`,
      catalog: options.catalogName!
    })
  }
}

/** Flags shared by every program that opens the warehouse, with environment fallbacks. */
import * as path from "node:path"
import { Config } from "effect"
import { Flag } from "effect/cli"
import type { CatalogChoice } from "../../layers/lakehouse.ts"

export const lakehouseFlags = {
  warehouse: Flag.String("warehouse").pipe(
    Flag.withDescription("directory of the table data and metadata"),
    Flag.withFallbackConfig(Config.String("K2_WAREHOUSE")),
    Flag.withDefault("warehouse")
  ),
  catalog: Flag.String("catalog").pipe(
    Flag.withDescription("SQL catalog: a SQLite file, or a postgresql:// URL (default: <warehouse>/catalog.db)"),
    Flag.withFallbackConfig(Config.String("K2_CATALOG")),
    Flag.optional
  ),
  catalogName: Flag.String("catalog-name").pipe(
    Flag.withDescription("catalog_name in the catalog tables"),
    Flag.withFallbackConfig(Config.String("K2_CATALOG_NAME")),
    Flag.withDefault("k2")
  )
}

/** The catalog the flags name: PostgreSQL for a postgres URL, else a SQLite file. */
export const catalogChoice = (options: {
  readonly warehouse: string
  readonly catalog: { readonly _tag: "Some"; readonly value: string } | { readonly _tag: "None" }
}): CatalogChoice => {
  const value = options.catalog._tag === "Some" ? options.catalog.value : undefined
  if (value !== undefined && /^postgres(ql)?:\/\//.test(value)) return { _tag: "postgres", url: value }
  return { _tag: "sqlite", path: value ?? path.join(options.warehouse, "catalog.db") }
}

/** Flags shared by every program that opens the warehouse, with environment fallbacks. */
import * as path from "node:path"
import { Config } from "effect"
import { Flag } from "effect/cli"
import { optionalSetting, setting } from "./flags.ts"
import type { CatalogChoice } from "../../layers/lakehouse.ts"

export const lakehouseFlags = {
  warehouse: Flag.String("warehouse").pipe(
    setting("directory of the table data and metadata", { env: "K2_WAREHOUSE", read: Config.String, fallback: "warehouse" })
  ),
  catalog: Flag.String("catalog").pipe(
    optionalSetting("catalog: a SQLite file, a postgresql:// URL, or an Iceberg REST catalog http(s):// URL (default: <warehouse>/catalog.db); REST auth from K2_REST_TOKEN or K2_REST_CREDENTIAL (client_id:secret)", { env: "K2_CATALOG", read: Config.String })
  ),
  catalogName: Flag.String("catalog-name").pipe(
    setting("catalog_name in the catalog tables", { env: "K2_CATALOG_NAME", read: Config.String, fallback: "k2" })
  )
}

/** The catalog the flags name: PostgreSQL for a postgres URL, else a SQLite file. */
export const catalogChoice = (options: {
  readonly warehouse: string
  readonly catalog: { readonly _tag: "Some"; readonly value: string } | { readonly _tag: "None" }
}): CatalogChoice => {
  const value = options.catalog._tag === "Some" ? options.catalog.value : undefined
  if (value !== undefined && /^postgres(ql)?:\/\//.test(value)) return { _tag: "postgres", url: value }
  if (value !== undefined && /^https?:\/\//.test(value)) {
    const env = (name: string) => (process.env[name] === undefined || process.env[name] === "" ? {} : { [name]: process.env[name]! })
    const { K2_REST_TOKEN: token, K2_REST_CREDENTIAL: credential, K2_REST_PARENT_NAMESPACE: parentNamespace } = {
      ...env("K2_REST_TOKEN"),
      ...env("K2_REST_CREDENTIAL"),
      ...env("K2_REST_PARENT_NAMESPACE")
    } as Record<string, string | undefined>
    return {
      _tag: "rest",
      uri: value,
      ...(token === undefined ? {} : { token }),
      ...(credential === undefined ? {} : { credential }),
      ...(parentNamespace === undefined ? {} : { parentNamespace })
    }
  }
  return { _tag: "sqlite", path: value ?? path.join(options.warehouse, "catalog.db") }
}

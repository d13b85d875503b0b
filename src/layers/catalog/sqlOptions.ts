/** The SQL catalog's options, and the longest namespace or table name its columns hold. */
import { quoted } from "../../domain/errors.ts"
import { type CatalogError, catalogError, CatalogRejected } from "../../services/Catalog.ts"

export interface SqlCatalogOptions {
  /** `catalog_name` in the tables: several catalogs can share one database. */
  readonly name: string
  /** Location URI under which new tables are created. */
  readonly warehouse: string
}

/**
 * The characters a namespace or table name may have: the columns' VARCHAR(255) (sqlSchema.ts). PostgreSQL
 * refuses a longer one only once the metadata file is written, SQLite keeps any length (and the file
 * system then refuses the directory): refused alike on both, before anything is written.
 */
const MAX_NAME_CHARS = 255

/** CatalogRejected when `name` is longer than the catalog holds, naming the limit and the name (cut short). */
export const nameTooLong = (what: string, name: string): CatalogError | undefined => {
  const chars = [...name].length
  if (chars <= MAX_NAME_CHARS) return undefined
  return catalogError(new CatalogRejected({ detail: `${what} is ${chars} characters, more than the ${MAX_NAME_CHARS} the catalog holds: ${quoted(name)}` }))
}

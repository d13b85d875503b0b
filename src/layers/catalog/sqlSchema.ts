/**
 * The catalog's tables in the database: `iceberg_tables` and `iceberg_namespace_properties` as
 * Iceberg's JdbcCatalog (schema V1) and PyIceberg's SqlCatalog lay them out, created when missing,
 * and which of their rows are tables.
 */
import { Effect } from "effect"
import { CatalogUnavailable, catalogError } from "../../services/Catalog.ts"
import { classifySqlError, type SqlDriver } from "./drivers.ts"
import { failureText } from "./failureText.ts"
import { sqlFailure } from "./sqlErrors.ts"

const DDL = [
  ["iceberg_tables", `CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name))`],
  ["iceberg_namespace_properties", `CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key))`]
] as const

/** Rows JdbcCatalog V1 treats as tables (V0 rows have no type). */
const IS_TABLE_V1 = "(iceberg_type = 'TABLE' OR iceberg_type IS NULL)"

/** Creates the catalog's tables where they are missing, one after the other. */
export const createCatalogTables = Effect.fnUntraced(function*(driver: SqlDriver) {
  for (const [table, statement] of DDL) {
    // Two processes creating the tables at once race on PostgreSQL's catalog: the loser's error is
    // harmless. PostgreSQL refuses the statement to a role without CREATE on the schema even when
    // the table exists (the privilege is checked first): a table the role can read is all it needs.
    yield* Effect.tryPromise(() => driver.execute(statement)).pipe(
      Effect.catch((e) =>
        classifySqlError(e.cause) === "unique-violation"
          ? Effect.void
          : (e.cause as { code?: string } | undefined)?.code === "42501" // insufficient_privilege
          ? Effect.tryPromise(async () => await driver.query(`SELECT 1 AS x FROM ${table} WHERE 1 = 0`)).pipe(
            Effect.mapError(() => sqlFailure(e.cause ?? e))
          )
          : Effect.fail(sqlFailure(e.cause ?? e)))
    )
  }
})

/**
 * Whether `iceberg_tables` has JdbcCatalog V1's `iceberg_type` column (`v1`), and the condition
 * picking its table rows (`IS_TABLE`).
 */
export const tableRows = (driver: SqlDriver) =>
  // JdbcCatalog creates iceberg_tables without iceberg_type unless jdbc.schema-version=V1, and
  // PyIceberg's SqlCatalog never adds it: on such a database every row is a table (V0), and the
  // column is not ours to add.
  Effect.tryPromise(async () => {
    await driver.query(`SELECT iceberg_type FROM iceberg_tables WHERE 1 = 0`)
    return true
  }).pipe(
    Effect.catch((e) => {
      const cause = e.cause as { code?: string; message?: string } | undefined
      // SQLite: "no such column"; PostgreSQL: SQLSTATE 42703 (undefined column). Anything else is the database failing.
      return cause?.code === "42703" || /no such column/i.test(cause?.message ?? "")
        ? Effect.succeed(false)
        : Effect.fail(catalogError(new CatalogUnavailable({ detail: failureText(cause ?? e) })))
    }),
    Effect.map((v1) => ({ v1, IS_TABLE: v1 ? IS_TABLE_V1 : "1 = 1" }))
  )

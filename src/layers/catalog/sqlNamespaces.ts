/**
 * The SQL catalog's namespaces: rows of `iceberg_namespace_properties`, and a namespace any table
 * row of `iceberg_tables` names.
 */
import { Effect } from "effect"
import { AlreadyExists, type Catalog, catalogError, NamespaceNotEmpty, NoSuchNamespace } from "../../services/Catalog.ts"
import type { SqlDriver } from "./drivers.ts"
import { db, insertError } from "./sqlErrors.ts"
import { nameTooLong, type SqlCatalogOptions } from "./sqlOptions.ts"

export const makeNamespaces = (driver: SqlDriver, options: SqlCatalogOptions) => {
  const namespaceExists = (namespace: string) =>
    db(async () => {
      const rows = await driver.query(
        `SELECT 1 AS x FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2
         UNION ALL SELECT 1 AS x FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2`,
        [options.name, namespace]
      )
      return rows.length > 0
    })

  const requireNamespace = (namespace: string) =>
    namespaceExists(namespace).pipe(
      Effect.flatMap((exists) => exists ? Effect.void : Effect.fail(catalogError(new NoSuchNamespace({ namespace }))))
    )

  const createNamespace: Catalog["Service"]["createNamespace"] = Effect.fn("Catalog.createNamespace")(function*(namespace, properties = {}) {
    const tooLong = nameTooLong("namespace", namespace)
    if (tooLong !== undefined) return yield* tooLong
    if (yield* namespaceExists(namespace)) return yield* catalogError(new AlreadyExists({ name: namespace }))
    // JdbcCatalog and PyIceberg mark a namespace without properties with exists=true.
    const entries = Object.entries({ exists: "true", ...properties })
    // One statement, so atomic in SQLite and PostgreSQL alike: a failure part way left the namespace
    // existing with some of its properties. Another process may have created it since the check.
    const rows = entries.map((_, i) => `($1, $2, $${3 + 2 * i}, $${4 + 2 * i})`).join(", ")
    yield* Effect.tryPromise(() =>
      driver.execute(
        `INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES ${rows}`,
        [options.name, namespace, ...entries.flat()]
      )
    ).pipe(Effect.mapError(insertError(namespace)))
  })

  const listNamespaces: Catalog["Service"]["listNamespaces"] = Effect.fn("Catalog.listNamespaces")(function*() {
    const rows = yield* db(() =>
      driver.query(
        `SELECT namespace AS ns FROM iceberg_namespace_properties WHERE catalog_name = $1
           UNION SELECT table_namespace AS ns FROM iceberg_tables WHERE catalog_name = $1 ORDER BY ns`,
        [options.name]
      )
    )
    return rows.map((r) => r.ns as string)
  })

  const dropNamespace: Catalog["Service"]["dropNamespace"] = Effect.fn("Catalog.dropNamespace")(function*(namespace) {
    yield* requireNamespace(namespace)
    const tables = yield* db(() =>
      driver.query(`SELECT 1 AS x FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2`, [
        options.name,
        namespace
      ])
    )
    if (tables.length > 0) return yield* catalogError(new NamespaceNotEmpty({ namespace }))
    yield* db(() =>
      driver.execute(`DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2`, [
        options.name,
        namespace
      ])
    )
  })

  return { namespaceExists, requireNamespace, createNamespace, listNamespaces, dropNamespace }
}

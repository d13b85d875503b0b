/**
 * The PostgreSQL catalog when its connections misbehave, against the local server (the database of
 * K2_TEST_POSTGRES_URL): a swap held by another session's lock past the query timeout.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import pg from "pg"
import { tables } from "../../src/domain/tables.ts"
import * as Catalogs from "../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../src/layers/iceberg/fileio.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { postgresUrl, uniqueCatalogName } from "../support/postgres.ts"

/** A session of its own (not the catalog's pool), closed with the scope. */
const session = Effect.acquireRelease(
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: postgresUrl })
    await client.connect()
    return client
  }),
  (client) => Effect.promise(() => client.end().catch(() => undefined))
)

const id = { namespace: "market_data", name: "trades" }

describe("PostgreSQL catalog: a swap waiting on another session's lock", () => {
  it.live("times out on the server too: no statement is left waiting to run after the commit failed", () =>
    Effect.gen(function*() {
      const name = uniqueCatalogName("k2_fault")
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-pg-fault-"))
      const catalog = yield* Layer.build(
        Catalogs.layerPostgres({ name, url: postgresUrl, warehouse: FileIOs.fileLocation(dir), queryTimeoutMs: 1000 })
          .pipe(Layer.provide(FileIOs.layer))
      ).pipe(Effect.map((context) => context.mapUnsafe.get(Catalog.key) as Catalog["Service"]))
      yield* catalog.createNamespace(id.namespace)
      const created = yield* catalog.createTable(id, tables.trades)

      // Another session (an operator's, another engine's commit) holds the table's row.
      const holder = yield* session
      const admin = yield* session
      yield* Effect.promise(async () => {
        await holder.query("BEGIN")
        await holder.query("SELECT 1 FROM iceberg_tables WHERE catalog_name = $1 FOR UPDATE", [name])
      })
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }]))
      assert.strictEqual(error.reason._tag, "CommitStateUnknown")

      // A statement given up by the client alone keeps waiting on the server, holding a connection
      // there, and runs when the lock goes: a commit reported failed would land after all.
      const waiting = yield* Effect.promise(() =>
        admin.query(
          `SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE iceberg_tables%'`
        )
      )
      yield* Effect.promise(() => holder.query("ROLLBACK"))
      assert.strictEqual(waiting.rowCount, 0, "no swap left waiting on the server")
      yield* Effect.sleep("200 millis")
      assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, created.metadataLocation)
    }).pipe(Effect.scoped), 20_000)
})

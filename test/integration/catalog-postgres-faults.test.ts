/**
 * The PostgreSQL catalog when its connections misbehave, against the local server (the database of
 * K2_TEST_POSTGRES_URL): a swap held by another session's lock past the query timeout, or
 * terminated while it waits.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import pg from "pg"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import * as Catalogs from "../../src/layers/catalog/sql.ts"
import { COMMIT_ID } from "../../src/layers/iceberg/commit.ts"
import * as FileIOs from "../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { makeTrades } from "../support/fixtures.ts"
import { postgresUrl, uniqueCatalogName } from "../support/postgres.ts"
import { checkTable } from "../support/tableCheck.ts"
import { tempWarehouse } from "../support/warehouse.ts"

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

  it.live("terminated while it waits (its outcome unknown to the catalog): the append looks for its commit id, swaps again once the lock goes, and lands once", () =>
    Effect.gen(function*() {
      // The catalog's connections carry a name of their own: only they are terminated.
      const name = uniqueCatalogName("k2_fault")
      const url = new URL(postgresUrl)
      url.searchParams.set("application_name", name)
      const options = { warehouse: tempWarehouse(), catalogName: name, catalog: { _tag: "postgres" as const, url: url.toString() } }
      const context = yield* Layer.build(Lakehouse.layer(options))
      const sink = context.mapUnsafe.get(IcebergSink.key) as IcebergSink["Service"]
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 10 })))

      const holder = yield* session
      const admin = yield* session
      yield* Effect.promise(async () => {
        await holder.query("BEGIN")
        await holder.query("SELECT 1 FROM iceberg_tables WHERE catalog_name = $1 FOR UPDATE", [name])
      })
      const commitId = crypto.randomUUID()
      const appending = yield* Effect.forkChild(
        sink.append(tables.trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10, idPrefix: "u" })), { properties: { [COMMIT_ID]: commitId } })
      )
      // Twice: the swap waiting on the lock is terminated, and so is the next attempt's (a backend
      // being terminated is listed a while longer: each is ended once).
      const terminated: Array<number> = []
      for (let round = 0; round < 2; round++) {
        for (let wait = 0; wait < 500; wait++) {
          const ended = yield* Effect.promise(() =>
            admin.query(
              `SELECT pid FROM pg_stat_activity
               WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE iceberg_tables%'
                 AND NOT (pid = ANY($2::int[])) AND pg_terminate_backend(pid)`,
              [name, terminated]
            )
          )
          terminated.push(...ended.rows.map((r) => r.pid as number))
          if ((ended.rowCount ?? 0) > 0) break
          yield* Effect.sleep("20 millis")
        }
      }
      yield* Effect.promise(() => holder.query("ROLLBACK"))
      const committed = yield* Fiber.join(appending)
      assert.strictEqual(terminated.length, 2)
      assert.isAtLeast(committed.attempts, 3)
      const m = (yield* (context.mapUnsafe.get(Catalog.key) as Catalog["Service"]).loadTable({ namespace: "market_data", name: "trades" })).metadata
      assert.strictEqual(m.snapshots.filter((s) => s.summary[COMMIT_ID] === commitId).length, 1)
      const table = yield* checkTable("trades").pipe(Effect.provide(context))
      assert.deepStrictEqual(table, { rows: 20, distinctCoordinates: 20, distinctMessageIds: 20 })
    }).pipe(Effect.scoped), 30_000)
})

/** Behaviour every Catalog layer must have; run against each layer. */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, type Layer } from "effect"
import { newSnapshotId } from "../../../src/domain/iceberg/metadata.ts"
import type { Snapshot } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { Catalog, type CatalogError } from "../../../src/services/Catalog.ts"

const trades = tables.trades

const snapshotOn = (parent: bigint | undefined, sequence: bigint): Snapshot => ({
  "snapshot-id": newSnapshotId(),
  ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
  "sequence-number": sequence,
  "timestamp-ms": Date.now(),
  "manifest-list": "file:///nowhere/snap.avro",
  summary: { operation: "append" }
})

const reasonOf = <A>(exit: Exit.Exit<A, CatalogError>) => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  return (error as { error: CatalogError } | undefined)?.error.reason._tag
}

export interface ContractOptions {
  /** False where the server behind the layer answers concurrent creations of a namespace with an error. */
  readonly namespaceCreationIsAtomic?: boolean
  /** False where the server behind the layer answers a name its database refuses with a 5xx (its own failure, waited out). */
  readonly refusesOverlongNames?: boolean
  /** False where the server behind the layer writes a new table's metadata without looking at its location (ADR-47). */
  readonly refusesLocationInUse?: boolean
}

export const catalogContract = (name: string, layer: () => Layer.Layer<Catalog, unknown>, options: ContractOptions = {}) =>
  describe(`Catalog contract: ${name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, Catalog>) => Effect.provide(effect, layer())

    it.effect("creates, lists and drops namespaces", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        yield* catalog.createNamespace("market_data")
        assert.deepStrictEqual(yield* catalog.listNamespaces(), ["market_data"])
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.createNamespace("market_data"))), "AlreadyExists")
        yield* catalog.dropNamespace("market_data")
        assert.deepStrictEqual(yield* catalog.listNamespaces(), [])
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.dropNamespace("market_data"))), "NoSuchNamespace")
      })))

    if (options.namespaceCreationIsAtomic !== false) {
      it.effect("creates a namespace once when several ask at the same time: the others are told it exists", () =>
        run(Effect.gen(function*() {
          const catalog = yield* Catalog
          const exits = yield* Effect.all(Array.from({ length: 4 }, () => Effect.exit(catalog.createNamespace("raced"))), { concurrency: "unbounded" })
          assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
          for (const exit of exits.filter(Exit.isFailure)) assert.strictEqual(reasonOf(exit), "AlreadyExists")
          yield* catalog.dropNamespace("raced")
        })))
    }

    it.effect("creates, loads, lists and drops tables", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.createTable(id, trades))), "NoSuchNamespace")
        yield* catalog.createNamespace("market_data")
        const created = yield* catalog.createTable(id, trades)
        assert.match(created.metadataLocation, /\/market_data\/trades\/metadata\/00000-.*\.metadata\.json$/)
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.createTable(id, trades))), "AlreadyExists")
        const loaded = yield* catalog.loadTable(id)
        assert.strictEqual(loaded.metadata["table-uuid"], created.metadata["table-uuid"])
        assert.deepStrictEqual(loaded.metadata.schemas[0], trades.schema)
        assert.deepStrictEqual(yield* catalog.listTables("market_data"), [id])
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.dropNamespace("market_data"))), "NamespaceNotEmpty")
        yield* catalog.dropTable(id)
        assert.isFalse(yield* catalog.tableExists(id))
        assert.strictEqual(reasonOf(yield* Effect.exit(catalog.loadTable(id))), "NoSuchTable")
      })))

    if (options.refusesOverlongNames !== false) {
      it.effect("a namespace longer than the catalog stores is refused for good, or taken whole: never waited out as an outage", () =>
        run(Effect.gen(function*() {
          const catalog = yield* Catalog
          // 302 characters, in levels a file system takes as directory names.
          const namespace = ["a", "b", "c"].map((c) => c.repeat(100)).join(".")
          const created = yield* Effect.exit(catalog.createNamespace(namespace))
          if (Exit.isFailure(created)) assert.strictEqual(reasonOf(created), "CatalogRejected")
          else {
            assert.include(yield* catalog.listNamespaces(), namespace)
            yield* catalog.dropNamespace(namespace)
          }
        })))
    }

    if (options.refusesLocationInUse !== false) {
      // Live: a refusal first waits a moment for another process's registration of the name.
      it.live("a table dropped (its files stay) is not created again at its location: LocationInUse naming the dropped table", () =>
        run(Effect.gen(function*() {
          const catalog = yield* Catalog
          const id = { namespace: "market_data", name: "trades" }
          yield* catalog.createNamespace("market_data")
          const old = yield* catalog.createTable(id, trades)
          yield* catalog.dropTable(id)
          const exit = yield* Effect.exit(catalog.createTable(id, trades))
          assert.strictEqual(reasonOf(exit), "LocationInUse")
          assert.include(Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "", old.metadata["table-uuid"])
          assert.isFalse(yield* catalog.tableExists(id))
          const elsewhere = yield* catalog.createTable(id, { ...trades, location: `${old.metadata.location}-again` })
          assert.strictEqual(elsewhere.metadata.location, `${old.metadata.location}-again`)
        })))
    }

    it.effect("commits snapshots and refuses a stale base with a conflict", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createNamespace("market_data")
        const created = yield* catalog.createTable(id, trades)
        const first = snapshotOn(undefined, 1n)
        const committed = yield* catalog.commitTable(id, [
          { type: "assert-table-uuid", uuid: created.metadata["table-uuid"] },
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": null }
        ], [
          { action: "add-snapshot", snapshot: first },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": first["snapshot-id"] }
        ])
        assert.match(committed.metadataLocation, /\/00001-.*\.metadata\.json$/)
        const reloaded = yield* catalog.loadTable(id)
        assert.strictEqual(reloaded.metadata["current-snapshot-id"], first["snapshot-id"])
        assert.deepStrictEqual(reloaded.metadata["metadata-log"].map((e) => e["metadata-file"]), [
          created.metadataLocation
        ])
        // A writer still holding the empty table as its base loses.
        const stale = snapshotOn(undefined, 1n)
        const exit = yield* Effect.exit(catalog.commitTable(id, [
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": null }
        ], [{ action: "add-snapshot", snapshot: stale }]))
        assert.strictEqual(reasonOf(exit), "CommitConflict")
        assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, committed.metadataLocation)
      })))

    it.effect("refuses, as a conflict, a snapshot whose sequence number is not above the table's last (its base was stale)", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createNamespace("market_data")
        yield* catalog.createTable(id, trades)
        const first = snapshotOn(undefined, 1n)
        yield* catalog.commitTable(id, [], [
          { action: "add-snapshot", snapshot: first },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": first["snapshot-id"] }
        ])
        // Another engine stages a snapshot (no ref moves): the table's last sequence number is now 2.
        yield* catalog.commitTable(id, [], [{ action: "add-snapshot", snapshot: snapshotOn(first["snapshot-id"], 2n) }])
        const staged = yield* catalog.loadTable(id)
        // A writer that read the table before then builds on main with the same number.
        const mine = snapshotOn(first["snapshot-id"], 2n)
        const exit = yield* Effect.exit(catalog.commitTable(id, [
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": first["snapshot-id"] }
        ], [
          { action: "add-snapshot", snapshot: mine },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": mine["snapshot-id"] }
        ]))
        assert.strictEqual(reasonOf(exit), "CommitConflict")
        assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, staged.metadataLocation)
        // Rebuilt on the table as it now stands, it lands.
        const retried = { ...mine, "sequence-number": 3n }
        const committed = yield* catalog.commitTable(id, [
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": first["snapshot-id"] }
        ], [
          { action: "add-snapshot", snapshot: retried },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": retried["snapshot-id"] }
        ])
        assert.strictEqual(committed.metadata["last-sequence-number"], 3n)
        assert.strictEqual(committed.metadata["current-snapshot-id"], retried["snapshot-id"])
      })))

    it.effect("refuses an update naming a snapshot the table does not have, and changes nothing", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createNamespace("market_data")
        const created = yield* catalog.createTable(id, trades)
        const exit = yield* Effect.exit(catalog.commitTable(id, [], [
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": newSnapshotId() }
        ]))
        assert.strictEqual(reasonOf(exit), "CatalogRejected")
        assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, created.metadataLocation)
      })))

    it.effect("keeps 63-bit snapshot ids exact through metadata files", () =>
      run(Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createNamespace("market_data")
        yield* catalog.createTable(id, trades)
        const big = { ...snapshotOn(undefined, 1n), "snapshot-id": 9_007_199_254_740_993_123n % (2n ** 63n) }
        yield* catalog.commitTable(id, [], [
          { action: "add-snapshot", snapshot: big },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": big["snapshot-id"] }
        ])
        const loaded = yield* catalog.loadTable(id)
        assert.strictEqual(loaded.metadata["current-snapshot-id"], big["snapshot-id"])
        assert.strictEqual(loaded.metadata.snapshots[0]?.["snapshot-id"], big["snapshot-id"])
      })))
  })

/** What K2's commits keep and assert of the table they commit to: main's retention, the table's identity, the snapshot log's order. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { TestClock } from "effect/testing"
import { currentSnapshot, type TableUpdate } from "../../../src/domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { SnapshotIdSource } from "../../../src/layers/iceberg/commit.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const retention = { "min-snapshots-to-keep": 5, "max-snapshot-age-ms": 86_400_000, "max-ref-age-ms": 604_800_000 }

describe("commitChange: main's retention", () => {
  it.effect("a K2 commit keeps the retention another engine set on main, in the SQL catalog and in the update a REST server gets", () => {
    const sent: Array<TableUpdate> = []
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      // As `ALTER TABLE ... CREATE OR REPLACE BRANCH main RETAIN 7 DAYS WITH SNAPSHOT RETENTION 5 SNAPSHOTS 1 DAYS`.
      yield* catalog.commitTable(trades, [], [
        { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": first.snapshot["snapshot-id"], ...retention }
      ])
      sent.length = 0
      const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      assert.deepStrictEqual(second.table.metadata.refs["main"], { "snapshot-id": second.snapshot["snapshot-id"], type: "branch", ...retention })
      assert.deepStrictEqual(sent.find((u) => u.action === "set-snapshot-ref"), {
        action: "set-snapshot-ref",
        "ref-name": "main",
        type: "branch",
        "snapshot-id": second.snapshot["snapshot-id"],
        ...retention
      })
    }).pipe(Effect.provide(lakehouseWrapping(warehouseOptions("sqlite"), (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) => {
          sent.push(...updates)
          return catalog.commitTable(id, requirements, updates)
        }
      }))))
  })
})

describe("commitChange: a table dropped and created again under its name", () => {
  type Moment = "commitTable" | "secondLoad"
  /** A catalog that, once armed, drops trades and creates it again just before `at`. */
  const recreating = (armed: { at: Moment | null }) => {
    let loads = 0
    return lakehouseWrapping(warehouseOptions("sqlite"), (catalog) => {
      const recreate = (call: "loadTable" | "commitTable") =>
        Effect.gen(function*() {
          const now = armed.at === "commitTable" ? call === "commitTable" : armed.at === "secondLoad" && call === "loadTable" && ++loads === 2
          if (!now) return
          armed.at = null
          const dropped = yield* catalog.loadTable(trades)
          yield* catalog.dropTable(trades)
          // At a place of its own: the old one still holds the dropped table's metadata (ADR-47).
          yield* catalog.createTable(trades, { ...tables.trades, location: `${dropped.metadata.location}-again` })
        })
      return Catalog.of({
        ...catalog,
        loadTable: (id) => recreate("loadTable").pipe(Effect.andThen(catalog.loadTable(id))),
        commitTable: (id, requirements, updates) =>
          recreate("commitTable").pipe(Effect.andThen(catalog.commitTable(id, requirements, updates)))
      })
    })
  }

  const appendMeetingRecreation = (at: Moment) => {
    const armed: { at: Moment | null } = { at: null }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      armed.at = at
      const exit = yield* Effect.exit(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))))
      assert.isTrue(Exit.isFailure(exit), "the append landed in the new table")
      const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      const error = (failure as { error: { _tag: string; message: string } }).error
      assert.strictEqual(error._tag, "CommitRejected")
      assert.include(error.message, "market_data.trades")
      assert.include(error.message, "dropped")
      // The new table holds nothing of the old one's writer.
      assert.deepStrictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots, [])
    }).pipe(Effect.provide(recreating(armed)))
  }

  // Live: the retry waits its backoff.
  it.live("a retry after the swap was refused does not commit into the new table: CommitRejected naming it", () =>
    appendMeetingRecreation("commitTable"))

  // The sink's own load sees the old table, the commit's first load the new one.
  it.effect("nor does a commit whose files were written for the old table", () => appendMeetingRecreation("secondLoad"))
})

describe("commitChange: snapshot timestamps", () => {
  it.effect("a commit from a clock behind the table's last snapshot is stamped no earlier, so Iceberg Java can still load the table", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      // The last commit came from a host whose clock runs 5 minutes ahead of this one (or this
      // clock stepped back): Java's TableMetadata refuses a snapshot log out of order by more than
      // a minute ("Expected sorted snapshot log entries"), and a REST server refuses the commit.
      yield* TestClock.setTime(1_800_000_000_000)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      yield* TestClock.setTime(1_800_000_000_000 - 300_000)
      const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      assert.isAtLeast(second.snapshot["timestamp-ms"], first.snapshot["timestamp-ms"])
      const log = second.table.metadata["snapshot-log"].map((e) => e["timestamp-ms"])
      assert.deepStrictEqual(log, [...log].sort((a, b) => a - b), "snapshot log in time order")
    }).pipe(Effect.provide(lakehouseWrapping(warehouseOptions("sqlite"), (catalog) => catalog))))

  it.effect("nor earlier than the table's last update (a REST server's clock ahead stamped its creation), which a REST server refuses", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      // The server (or another host) whose clock runs 5 minutes ahead made the table, or its last
      // change without a snapshot (expiry, properties): Iceberg's REST server refuses, for good
      // (400), a commit whose snapshot is stamped over a minute before the base's last-updated-ms
      // ("Invalid update timestamp ...: before the latest metadata log entry timestamp").
      yield* TestClock.setTime(1_800_000_000_000)
      const created = yield* sink.ensureTable(tables.trades)
      yield* TestClock.setTime(1_800_000_000_000 - 300_000)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      assert.isAtLeast(first.snapshot["timestamp-ms"], created.metadata["last-updated-ms"])
    }).pipe(Effect.provide(lakehouseWrapping(warehouseOptions("sqlite"), (catalog) => catalog))))
})

describe("commitChange: snapshot ids (Java's SnapshotProducer draws again while its base has the id)", () => {
  /** Draws `ids` in turn (the last one for ever after). */
  const drawing = (...ids: ReadonlyArray<bigint>) => {
    let draws = 0
    return () => ids[Math.min(draws++, ids.length - 1)]!
  }
  const ids = (m: TableMetadata) => m.snapshots.map((s) => s["snapshot-id"])

  it.effect("an id the table has is drawn again before the commit, not sent to be refused (or, unchecked, added twice)", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      const taken = first.snapshot["snapshot-id"]
      const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))).pipe(
        Effect.provideService(SnapshotIdSource, drawing(taken, 12n))
      )
      assert.strictEqual(second.snapshot["snapshot-id"], 12n)
      assert.strictEqual(second.attempts, 1)
      assert.deepStrictEqual(ids(second.table.metadata), [taken, 12n])
    }).pipe(Effect.provide(lakehouseWrapping(warehouseOptions("sqlite"), (catalog) => catalog))))

  // Live: the retry waits its backoff.
  it.live("a retry draws against the base it reloads: an id another engine's snapshot took meanwhile is drawn again", () => {
    const armed = { on: false }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      armed.on = true
      const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))).pipe(
        Effect.provideService(SnapshotIdSource, drawing(20n, 21n, 22n))
      )
      assert.strictEqual(second.snapshot["snapshot-id"], 22n)
      assert.strictEqual(second.snapshot["parent-snapshot-id"], 21n)
      assert.strictEqual(second.conflicts, 1)
      const all = ids(second.table.metadata)
      assert.strictEqual(new Set(all).size, all.length, `one snapshot per id: ${all.join(", ")}`)
    }).pipe(Effect.provide(lakehouseWrapping(warehouseOptions("sqlite"), (catalog) =>
      Catalog.of({
        ...catalog,
        // Before K2's first attempt lands, another engine commits snapshot 21 (K2's first attempt conflicts).
        commitTable: (id, requirements, updates) =>
          Effect.gen(function*() {
            if (armed.on) {
              armed.on = false
              const { metadata } = yield* catalog.loadTable(id)
              const parent = currentSnapshot(metadata)!
              const foreign = {
                ...parent,
                "snapshot-id": 21n,
                "parent-snapshot-id": parent["snapshot-id"],
                "sequence-number": metadata["last-sequence-number"] + 1n,
                summary: { operation: "replace" as const }
              }
              yield* catalog.commitTable(id, [], [
                { action: "add-snapshot", snapshot: foreign },
                { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 21n }
              ])
            }
            return yield* catalog.commitTable(id, requirements, updates)
          })
      }))))
  })
})

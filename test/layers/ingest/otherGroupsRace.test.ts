/**
 * Two starts adopting marks at once (ADR-61): each works out what to adopt on the tables as it
 * loaded them, then commits. The one that commits second finds, on the table as it then stands,
 * nothing left to adopt: it commits nothing and says why, rather than a snapshot of no rows and
 * "continues from" as if it had adopted. Where a third group took the marks meanwhile, the start is
 * refused: its group holds no marks of those topics and would read them again from the start.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { encodeOffsets, markerKey } from "../../../src/domain/ingest/marker.ts"
import { identifierOf, tables, type TableName } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { adoptMarks, claimTopics } from "../../../src/layers/ingest/otherGroups.ts"
import { rowsFor } from "../../../src/layers/ingest/partitionState.ts"
import { Catalog, type LoadedTable } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { sequenceEventColumns } from "../../../src/domain/sequence/events.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = "market.equities.trades.asx"
const TOPICS = [TOPIC]
const TABLES = ["trades", "sequence_events"] as const satisfies ReadonlyArray<TableName>

/** group-a has ingested 30 records of the topic into trades and sequence_events. */
const setUp = Effect.gen(function*() {
  const sink = yield* IcebergSink
  for (const table of TABLES) {
    yield* sink.ensureTable(table === "trades" ? tables.trades : tables.sequenceEvents)
    yield* sink.append(identifierOf(table), table === "trades" ? rowsFor("trades").columns() : sequenceEventColumns([]), {
      properties: { [markerKey("group-a")]: encodeOffsets(new Map([[TOPIC, new Map([[0, 30n]])]])) }
    })
  }
})

/** The tables as a start loaded them before any adoption: it works out what to adopt on these. */
const loadedNow = Effect.gen(function*() {
  const catalog = yield* Catalog
  return new Map(yield* Effect.forEach(TABLES, (t) => Effect.map(catalog.loadTable(identifierOf(t)), (loaded) => [identifierOf(t).name, loaded] as const)))
})

/** Runs `effect` as a start that loaded the tables as `loaded` holds them (its commits see them as they stand). */
const asLoadedBefore = (loaded: ReadonlyMap<string, LoadedTable>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    return yield* effect.pipe(Effect.provideService(Catalog, Catalog.of({
      ...catalog,
      loadTable: (id) => loaded.has(id.name) ? Effect.succeed(loaded.get(id.name)!) : catalog.loadTable(id)
    })))
  })

const snapshotCounts = Effect.gen(function*() {
  const catalog = yield* Catalog
  return yield* Effect.forEach(TABLES, (t) => Effect.map(catalog.loadTable(identifierOf(t)), (l) => l.metadata.snapshots.length))
})

describe("two starts adopting marks at once", () => {
  it.effect("the second process of the group commits nothing and reports nothing adopted: the first adopted them", () =>
    Effect.gen(function*() {
      yield* setUp
      const stale = yield* loadedNow
      const winner = yield* adoptMarks("group-b", "group-a", TOPICS)
      assert.deepStrictEqual(winner.map((a) => a.table), ["trades", "sequence_events"])
      const counts = yield* snapshotCounts
      const loser = yield* asLoadedBefore(stale)(adoptMarks("group-b", "group-a", TOPICS))
      assert.deepStrictEqual(loser, [], "it adopted nothing: the marks were group-b's already")
      assert.deepStrictEqual(yield* snapshotCounts, counts, "no snapshot of no rows committed")
      // Its start goes on (the topics are its group's own), as the winner's does.
      yield* asLoadedBefore(stale)(claimTopics({ group: "group-b", adoptMarksOf: "group-a", separateCopy: false }, TOPICS))
      assert.deepStrictEqual(yield* snapshotCounts, counts)
      const trades = (yield* (yield* Catalog).loadTable(identifierOf("trades"))).metadata.snapshots.at(-1)!.summary
      assert.strictEqual(trades[markerKey("group-b")], trades[markerKey("group-a")])
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite")))))

  it.effect("a group whose marks another group took meanwhile is refused: it holds none of them, and would read the topic again", () =>
    Effect.gen(function*() {
      yield* setUp
      const stale = yield* loadedNow
      yield* adoptMarks("group-b", "group-a", TOPICS)
      const counts = yield* snapshotCounts
      const refused = yield* Effect.flip(asLoadedBefore(stale)(claimTopics({ group: "group-c", adoptMarksOf: "group-a", separateCopy: false }, TOPICS)))
      assert.strictEqual(refused._tag, "OtherGroupsMarkers")
      assert.include(refused.message, `group group-a's marks of ${TOPIC} changed while group group-c adopted them`)
      assert.deepStrictEqual(yield* snapshotCounts, counts, "nothing committed")
      const trades = (yield* (yield* Catalog).loadTable(identifierOf("trades"))).metadata.snapshots.at(-1)!.summary
      assert.isUndefined(trades[markerKey("group-c")])
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite")))))
})

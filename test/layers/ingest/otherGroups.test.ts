/**
 * Another consumer group on the same topics and warehouse (ADR-61): it has no marker of its own, so
 * the ingestor reads the topics again and writes every record a second time. Ingest looks first
 * (othersTopics) and refuses, unless the other group's marks are adopted (adoptMarks: it continues
 * that copy, nothing written twice) or a separate copy is meant.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { encodeOffsets, markerKey } from "../../../src/domain/ingest/marker.ts"
import { identifierOf } from "../../../src/domain/tables.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { adoptMarks, claimTopics, othersTopics } from "../../../src/layers/ingest/otherGroups.ts"
import { rowsFor } from "../../../src/layers/ingest/partitionState.ts"
import { checkpointKey } from "../../../src/layers/ingest/tableCommits.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable, sequenceEvents } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const TOPICS = [TOPIC]

/** A warehouse where group-a ingested 30 trades, then 30 more were published; and how to ingest as a group. */
const setUp = Effect.gen(function*() {
  const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
  const options = warehouseOptions("sqlite")
  const trades = makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 })
  const asGroup = (groupId: string, checkpointIntervalMs = 0) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { commitIntervalMs: 200, topics: TOPICS, groupId, checkpointIntervalMs } })))
  const send = (from: number, to: number) =>
    asGroup("group-a")(Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(TOPICS, 1)!)
      yield* (yield* KafkaSink).send(tradeRecords(trades.slice(from, to)))
    }))
  const lakehouse = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(Lakehouse.layer(options)))
  yield* send(0, 30)
  yield* asGroup("group-a")(ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0))
  yield* send(30, 60)
  return { asGroup, lakehouse, options }
})

describe("markers of another consumer group", () => {
  it.live("the ingestor alone, as a second group, writes every record again: the hole ingest's start check closes", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse } = yield* setUp
      yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 60 && p.uncommitted === 0))
      const rows = yield* lakehouse(checkTable("trades"))
      assert.strictEqual(rows.rows, 90, "the 30 records group-a ingested are written again")
      assert.strictEqual(rows.distinctCoordinates, 60)
    }), 60_000)

  it.live("are found for a group that has none of its own, on each table of the topics", () =>
    Effect.gen(function*() {
      const { lakehouse } = yield* setUp
      const found = yield* lakehouse(othersTopics("group-b", TOPICS))
      assert.deepStrictEqual(found, [
        { table: "trades", topic: TOPIC, groups: ["group-a"] },
        { table: "sequence_events", topic: TOPIC, groups: ["group-a"] }
      ])
      // The group itself restarting, another topic, a fresh warehouse: nothing.
      assert.deepStrictEqual(yield* lakehouse(othersTopics("group-a", TOPICS)), [])
      assert.deepStrictEqual(yield* lakehouse(othersTopics("group-b", [ASX_TOPICS[1]!])), [])
      const fresh = yield* othersTopics("group-b", TOPICS).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite"))))
      assert.deepStrictEqual(fresh, [])
    }), 60_000)

  it.live("a start as another group is refused, naming the group and the ways on, and nothing is written", () =>
    Effect.gen(function*() {
      const { lakehouse } = yield* setUp
      const refused = yield* lakehouse(Effect.flip(claimTopics({ group: "group-b", separateCopy: false }, TOPICS)))
      assert.strictEqual(refused._tag, "OtherGroupsMarkers")
      assert.include(refused.message, `${TOPIC} (in trades, sequence_events) by group group-a`)
      assert.include(refused.message, "--adopt-marks-of group-a")
      assert.include(refused.message, "--separate-copy")
      // group-b has no marks of its own, so none handed over: not said.
      assert.notInclude(refused.message, "adopted by")
      // A group name mistyped adopts nothing: refused too, naming it as holding nothing, and the groups that hold marks.
      const typo = yield* lakehouse(Effect.flip(claimTopics({ group: "group-b", adoptMarksOf: "group-c", separateCopy: false }, TOPICS)))
      assert.strictEqual(typo._tag, "OtherGroupsMarkers")
      assert.include(typo.message, "--adopt-marks-of group-c: group group-c holds no marks")
      assert.include(typo.message, "held by group group-a")
      assert.notInclude(typo.message, "adopted by")
      assert.deepStrictEqual(yield* lakehouse(checkTable("trades")), { rows: 30, distinctCoordinates: 30, distinctMessageIds: 30 })
      // The group itself, with a topic no group has ingested yet (added later): started.
      yield* lakehouse(claimTopics({ group: "group-a", separateCopy: false }, ASX_TOPICS))
    }), 60_000)

  it.live("a separate copy is started when asked for, and is the group's own from its first commit on", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse } = yield* setUp
      yield* lakehouse(claimTopics({ group: "group-b", separateCopy: true }, TOPICS))
      yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 60 && p.uncommitted === 0))
      assert.strictEqual((yield* lakehouse(checkTable("trades"))).rows, 90, "a copy of its own, as asked")
      yield* lakehouse(claimTopics({ group: "group-b", separateCopy: false }, TOPICS))
    }), 60_000)

  it.live("adopted, they are continued: the new group writes only what the other had not, and owns its topics from then on", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse, options } = yield* setUp
      const eventsBefore = yield* sequenceEvents(options)
      yield* lakehouse(claimTopics({ group: "group-b", adoptMarksOf: "group-a", separateCopy: false }, TOPICS))
      // Adopted already: a second process of the group (or a restart with the option still set) adopts nothing, and is started.
      assert.deepStrictEqual(yield* lakehouse(adoptMarks("group-b", "group-a", TOPICS)), [])
      yield* lakehouse(claimTopics({ group: "group-b", adoptMarksOf: "group-a", separateCopy: false }, TOPICS))
      assert.deepStrictEqual(yield* lakehouse(othersTopics("group-b", TOPICS)), [])
      const sequence = yield* lakehouse(Effect.gen(function*() {
        return yield* (yield* Catalog).loadTable(identifierOf("sequence_events"))
      }))
      const summary = sequence.metadata.snapshots.at(-1)!.summary
      assert.strictEqual(summary[markerKey("group-b")], summary[markerKey("group-a")])
      assert.isDefined(summary[checkpointKey("group-a", `${TOPIC}:0`)])
      assert.strictEqual(summary[checkpointKey("group-b", `${TOPIC}:0`)], summary[checkpointKey("group-a", `${TOPIC}:0`)])

      const progress = yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0))
      assert.strictEqual(progress.written.trades, 30)
      const rows = yield* lakehouse(checkTable("trades"))
      assert.strictEqual(rows.rows, 60, "no record written twice")
      assert.strictEqual(rows.distinctCoordinates, 60)
      // The tracker went on from group-a's checkpoint: no event found twice, none made up.
      assert.deepStrictEqual(yield* sequenceEvents(options), eventsBefore)
    }), 60_000)
})

describe("markers of another consumer group, after a rename", () => {
  it.live("the old group started again once another adopted its marks is refused: it would write what the new group wrote since", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse } = yield* setUp
      yield* lakehouse(claimTopics({ group: "group-b", adoptMarksOf: "group-a", separateCopy: false }, TOPICS))
      yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0))
      const refused = yield* lakehouse(Effect.flip(claimTopics({ group: "group-a", separateCopy: false }, TOPICS)))
      assert.strictEqual(refused._tag, "OtherGroupsMarkers")
      assert.include(refused.message, "group-b")
      assert.include(refused.message, "--adopt-marks-of group-b")
      // Its marks were handed over: said, as why its own marker does not hold.
      assert.include(refused.message, "its marks were adopted by that group")
      // A third group is told of group-b alone: group-a's marks stop where group-b went on from them.
      const third = yield* lakehouse(Effect.flip(claimTopics({ group: "group-c", adoptMarksOf: "group-a", separateCopy: false }, TOPICS)))
      assert.include(third.message, "by group group-b. ")
      assert.notInclude(third.message, "by group group-a")
      // Adopting back continues group-b's copy: nothing written twice, and group-b is then the one refused.
      yield* lakehouse(claimTopics({ group: "group-a", adoptMarksOf: "group-b", separateCopy: false }, TOPICS))
      yield* lakehouse(claimTopics({ group: "group-a", separateCopy: false }, TOPICS))
      const progress = yield* asGroup("group-a")(ingestUntil((p) => p.uncommitted === 0))
      assert.strictEqual(progress.written.trades, 0)
      assert.deepStrictEqual(yield* lakehouse(checkTable("trades")), { rows: 60, distinctCoordinates: 60, distinctMessageIds: 60 })
      const back = yield* lakehouse(Effect.flip(claimTopics({ group: "group-b", separateCopy: false }, TOPICS)))
      assert.include(back.message, "--adopt-marks-of group-a")
    }), 60_000)

  it.live("the old group still running when its marks are adopted has its commits of them fenced out: nothing written twice", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse } = yield* setUp
      yield* lakehouse(claimTopics({ group: "group-b", adoptMarksOf: "group-a", separateCopy: false }, TOPICS))
      // group-a's process, started before the adoption (no start check), reads on from its marker.
      const zombie = yield* asGroup("group-a")(ingestUntil((p) => p.restarts > 0 || (p.written.trades >= 30 && p.uncommitted === 0)))
      assert.strictEqual(zombie.written.trades, 0, "its commits are abandoned, as a zombie's, and its partitions restarted from the marker")
      assert.strictEqual((yield* lakehouse(checkTable("trades"))).rows, 30)
      yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0))
      assert.deepStrictEqual(yield* lakehouse(checkTable("trades")), { rows: 60, distinctCoordinates: 60, distinctMessageIds: 60 })
    }), 60_000)

  it.live("a separate copy that crashed between its first trades and sequence_events commits is the group's own: started again unchecked", () =>
    Effect.gen(function*() {
      const { lakehouse } = yield* setUp
      // What the crash leaves: trades hold group-b's marker (committed first), sequence_events none of it yet.
      yield* lakehouse(Effect.gen(function*() {
        yield* (yield* IcebergSink).append(identifierOf("trades"), rowsFor("trades").columns(), {
          properties: { [markerKey("group-b")]: encodeOffsets(new Map([[TOPIC, new Map([[0, 30n]])]])) }
        })
      }))
      assert.deepStrictEqual(yield* lakehouse(othersTopics("group-b", TOPICS)), [], "its own copy, in every table of the topic")
      yield* lakehouse(claimTopics({ group: "group-b", separateCopy: false }, TOPICS))
    }), 60_000)

  it.live("a separate copy does not hand anything over: both groups start again unchecked", () =>
    Effect.gen(function*() {
      const { asGroup, lakehouse } = yield* setUp
      yield* lakehouse(claimTopics({ group: "group-b", separateCopy: true }, TOPICS))
      yield* asGroup("group-b")(ingestUntil((p) => p.written.trades >= 60 && p.uncommitted === 0))
      yield* lakehouse(claimTopics({ group: "group-a", separateCopy: false }, TOPICS))
      yield* lakehouse(claimTopics({ group: "group-b", separateCopy: false }, TOPICS))
    }), 60_000)
})

/**
 * Markers of other consumer groups (ADR-61). A group resumes from its own marker only: started under
 * another name on topics a group has ingested into the same tables, it would read them again from
 * its committed offsets (or the earliest) and write every record a second time. So ingest looks
 * first: such topics are refused, unless their marks are adopted (the group continues another's
 * copy) or a separate copy is asked for.
 */
import { Effect, Result, Schema } from "effect"
import { ancestry } from "../../domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import {
  encodeOffsets,
  encodeTopicIds,
  handedOverKey,
  handedOverOf,
  type Marker,
  MARKER_PREFIX,
  markerKey,
  mergeOffsets,
  mirroredCarry,
  type Offsets,
  readMarker,
  topicIdsKey
} from "../../domain/ingest/marker.ts"
import { sequenceEventColumns } from "../../domain/sequence/events.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import { parseTopicName } from "../../domain/wire.ts"
import { Catalog } from "../../services/Catalog.ts"
import { IcebergSink } from "../../services/IcebergSink.ts"
import { tpKey } from "../../services/KafkaSource.ts"
import { type DataTable, rowsFor } from "./partitionState.ts"
import { checkpointKey } from "./tableCommits.ts"

/** A topic of this run that other groups have ingested into a table where this group has not. */
export interface OthersTopic {
  readonly table: TableName
  readonly topic: string
  readonly groups: ReadonlyArray<string>
}

/** The table a source topic goes to (the topics are checked before). */
const tableOfTopic = (topic: string): DataTable => parseTopicName(topic)?.dataType ?? "instruments"

/** Each table the topics are written to, with the topics: sequence_events holds the trades' and quotes'. */
const tablesOf = (topics: ReadonlyArray<string>): ReadonlyMap<TableName, ReadonlyArray<string>> => {
  const out = new Map<TableName, Array<string>>()
  const add = (table: TableName, topic: string) => out.set(table, [...out.get(table) ?? [], topic])
  for (const topic of topics) {
    const table = tableOfTopic(topic)
    add(table, topic)
    if (table !== "instruments") add("sequence_events", topic)
  }
  return out
}

/** Whether the offsets hold a record of the topic. */
const holds = (offsets: Offsets | undefined, topic: string) => [...offsets?.get(topic)?.values() ?? []].some((o) => o > 0n)

/** A group's marker in the table; undefined when it has none, or none that decodes (the ingestor refuses its own). */
const markerIn = (metadata: TableMetadata, group: string): Marker | undefined => {
  const read = readMarker(metadata, group)
  return Result.isSuccess(read) ? read.success : undefined
}

const offsetsOf = (metadata: TableMetadata, group: string): Offsets | undefined => markerIn(metadata, group)?.offsets

/**
 * Whether the group's marker is where the topic's copy stands: it holds the topic and has not
 * handed it over to a group that adopted it (whose marker went on from there).
 */
const keeps = (marker: Marker | undefined, group: string, topic: string) =>
  marker !== undefined && holds(marker.offsets, topic) && !handedOverOf(marker.carried, group).has(topic)

/**
 * The groups whose markers the table carries. Every K2 commit carries all groups' forward, but
 * another engine's does not: the whole ancestry is looked at, as readMarker walks it.
 */
const groupsIn = (metadata: TableMetadata): ReadonlyArray<string> => {
  const keys = new Set(Object.keys(mirroredCarry(metadata) ?? {}))
  for (const snapshot of ancestry(metadata)) for (const key of Object.keys(snapshot.summary)) keys.add(key)
  return [...keys].filter((k) => k.startsWith(MARKER_PREFIX)).map((k) => k.slice(MARKER_PREFIX.length))
}

/** Each table's metadata, of the tables that exist. */
const loadTables = (topics: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const out: Array<{ readonly table: TableName; readonly topics: ReadonlyArray<string>; readonly metadata: TableMetadata }> = []
    for (const [table, tableTopics] of tablesOf(topics)) {
      const id = identifierOf(table)
      if (yield* catalog.tableExists(id)) out.push({ table, topics: tableTopics, metadata: (yield* catalog.loadTable(id)).metadata })
    }
    return out
  })

/**
 * The topics other groups have ingested into a table where `group` has not ingested them, or has
 * handed them over to a group that adopted its marks; named by the groups whose markers keep them.
 */
export const othersTopics = (group: string, topics: ReadonlyArray<string>) =>
  Effect.map(loadTables(topics), (tables) => {
    const read = tables.map((t) => ({ ...t, own: readMarker(t.metadata, group) }))
    const owns = read.flatMap(({ own }) => Result.isSuccess(own) && own.success !== undefined ? [own.success] : [])
    // Topic, not table: a crash between a flush's data-table commit and its sequence_events commit
    // leaves the group's marker in one of them only, and the copy is still its own.
    const ownTopics = new Set(topics.filter((topic) =>
      owns.some((m) => keeps(m, group, topic)) && !owns.some((m) => handedOverOf(m.carried, group).has(topic))
    ))
    return read.flatMap(({ metadata, own, table, topics }): Array<OthersTopic> => {
      // The ingestor refuses a marker of its own that does not decode (MarkerUnreadable).
      if (Result.isFailure(own)) return []
      const others = groupsIn(metadata).filter((g) => g !== group)
      return topics.flatMap((topic) => {
        if (ownTopics.has(topic)) return []
        // A group that handed the topic over is not where its copy stands: adopting from it would write again what its adopter did.
        const groups = others.filter((g) => keeps(markerIn(metadata, g), g, topic))
        return groups.length === 0 ? [] : [{ table, topic, groups }]
      })
    })
  })

/**
 * `group` takes the marks of `from` for the topics it has not ingested, in every table `from` has
 * ingested them into: its marker, its topic ids and (sequence_events) its tracker checkpoints, in a
 * snapshot of no rows. Its first batch then starts where `from` stopped. Returns what it adopted.
 */
export const adoptMarks = (group: string, from: string, topics: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    const adopted: Array<{ readonly table: TableName; readonly topics: ReadonlyArray<string> }> = []
    for (const { metadata, table, topics: tableTopics } of yield* loadTables(topics)) {
      // Worked out on the table as each commit attempt finds it: a process of the group that
      // adopted meanwhile leaves nothing to adopt.
      const marks = (base: TableMetadata) => {
        const own = readMarker(base, group, table)
        const theirs = readMarker(base, from, table)
        if (Result.isFailure(own)) return Result.fail(own.failure.message)
        if (Result.isFailure(theirs)) return Result.fail(theirs.failure.message)
        const taken = tableTopics.filter((t) => keeps(theirs.success, from, t) && !keeps(own.success, group, t))
        if (taken.length === 0 || theirs.success === undefined) return Result.succeed({ taken, properties: {} })
        const source = theirs.success
        // Recorded beside `from`'s marker (carried forward): `from` started again is refused, its marker
        // of these topics stops where this copy went on; this group adopting back takes them again.
        const ownHandedOver = own.success === undefined ? new Map<string, string>() : new Map(handedOverOf(own.success.carried, group))
        for (const t of taken) ownHandedOver.delete(t)
        const theirHandedOver = new Map([...handedOverOf(source.carried, from), ...taken.map((t) => [t, group] as const)])
        const offsets = new Map(taken.map((t) => [t, source.offsets.get(t)!]))
        const ids = new Map([...own.success?.topicIds ?? [], ...taken.flatMap((t) => source.topicIds.has(t) ? [[t, source.topicIds.get(t)!] as const] : [])])
        const checkpoints: Record<string, string> = {}
        for (const [topic, partitions] of offsets) {
          for (const partition of partitions.keys()) {
            const file = source.carried[checkpointKey(from, tpKey(topic, partition))]
            if (file !== undefined) checkpoints[checkpointKey(group, tpKey(topic, partition))] = file
          }
        }
        return Result.succeed({
          taken,
          properties: {
            [markerKey(group)]: encodeOffsets(mergeOffsets(own.success?.offsets ?? new Map(), offsets)),
            ...(ids.size === 0 ? {} : { [topicIdsKey(group)]: encodeTopicIds(ids) }),
            [handedOverKey(from)]: encodeTopicIds(theirHandedOver),
            ...(own.success?.carried[handedOverKey(group)] === undefined ? {} : { [handedOverKey(group)]: encodeTopicIds(ownHandedOver) }),
            ...checkpoints
          }
        })
      }
      const first = marks(metadata)
      if (Result.isFailure(first) || first.success.taken.length === 0) continue
      const empty = table === "sequence_events" ? sequenceEventColumns([]) : rowsFor(table).columns()
      yield* sink.append(identifierOf(table), empty, {
        properties: { "k2.marks-adopted-from": from },
        prepare: (base) => Result.map(marks(base), (m) => m.properties)
      })
      adopted.push({ table, topics: first.success.taken })
    }
    return adopted
  })

/** The topics `group` has ingested into each table of them. */
export const heldBy = (group: string, topics: ReadonlyArray<string>) =>
  Effect.map(loadTables(topics), (tables) =>
    tables.flatMap(({ metadata, table, topics }) => topics.filter((topic) => holds(offsetsOf(metadata, group), topic)).map((topic) => ({ table, topic }))))

/** What was found, by topic: `<topic> (<tables>) by group <groups>`. */
export const describeOthers = (found: ReadonlyArray<OthersTopic>): string => {
  const byTopic = new Map<string, { tables: Set<string>; groups: Set<string> }>()
  for (const f of found) {
    const entry = byTopic.get(f.topic) ?? { tables: new Set(), groups: new Set() }
    entry.tables.add(f.table)
    for (const g of f.groups) entry.groups.add(g)
    byTopic.set(f.topic, entry)
  }
  return [...byTopic].map(([topic, { groups, tables }]) => `${topic} (in ${[...tables].join(", ")}) by group ${[...groups].join(", ")}`).join("; ")
}

/** A start ingest refuses (ADR-61): it would write records other groups have ingested a second time, or adopt nothing. */
export class OtherGroupsMarkers extends Schema.TaggedError<OtherGroupsMarkers>()("OtherGroupsMarkers", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

/** How a group starts on topics other groups have ingested: refused, continuing one's copy, or a copy of its own. */
export interface GroupStart {
  readonly group: string
  readonly adoptMarksOf?: string | undefined
  readonly separateCopy: boolean
}

/**
 * Before anything is written: the topics other groups have ingested into these tables where this
 * group has not are refused, as it would write their records a second time, unless `adoptMarksOf`
 * names one of those groups (the group continues its copy) or `separateCopy` says a copy of its
 * own is meant.
 */
export const claimTopics = ({ adoptMarksOf: adopt, group, separateCopy }: GroupStart, topics: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (separateCopy) return
    const found = yield* othersTopics(group, topics)
    const refused = found.filter((f) => adopt === undefined || !f.groups.includes(adopt))
    if (refused.length > 0) {
      const others = [...new Set(refused.flatMap((f) => f.groups))]
      return yield* new OtherGroupsMarkers({
        detail: `group ${group}'s markers do not hold where topics other groups have ingested here stand: ${describeOthers(refused)}. ` +
          `Started as ${group}, ingest would read them again from its own marker where it has one (its marks were adopted by that group, ` +
          `which went on from them), else from the group's committed offsets (or the earliest), and write those records a second time. ` +
          `To continue that copy, stop group ${others.join(", ")}'s ingest and run with --adopt-marks-of ${others[0]} (or as --group ${others[0]}); ` +
          `for a copy of ${group}'s own, every record written again, run with --separate-copy.`
      })
    }
    if (adopt === undefined) return
    // A name mistyped would adopt nothing, silently: the topics then read from the start.
    if ((yield* heldBy(adopt, topics)).length === 0) {
      return yield* new OtherGroupsMarkers({ detail: `--adopt-marks-of ${adopt}: that group has ingested none of ${topics.join(", ")} into these tables; nothing to adopt` })
    }
    // Only topics that are not the group's own: the flag left on a later start adopts nothing over its copy.
    const toAdopt = [...new Set(found.map((f) => f.topic))]
    if (toAdopt.length === 0) return
    for (const a of yield* adoptMarks(group, adopt, toAdopt)) {
      yield* Effect.logInfo(`${a.table}: group ${group} continues from group ${adopt}'s marks of ${a.topics.join(", ")}`)
    }
  })

/**
 * Markers of other consumer groups (ADR-61). A group resumes from its own marker only: started under
 * another name on topics a group has ingested into the same tables, it would read them again from
 * its committed offsets (or the earliest) and write every record a second time. So ingest looks
 * first: such topics are refused, unless their marks are adopted (the group continues another's
 * copy) or a separate copy is asked for.
 */
import { Effect, Result, Schema } from "effect"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import {
  encodeHandedOver,
  encodeOffsets,
  encodeTopicIds,
  handedOverKey,
  handedOverOf,
  type Marker,
  markerKey,
  type MarkerUnreadable,
  mergeOffsets,
  readMarker,
  readMarkers,
  topicIdsKey
} from "../../domain/ingest/marker.ts"
import { heldIn, keeps, markerOfGroup, type OthersTopic, othersTopicsIn, type TableMarkers } from "../../domain/ingest/otherGroups.ts"
import { sequenceEventColumns } from "../../domain/sequence/events.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import { parseTopicName } from "../../domain/wire.ts"
import { Catalog } from "../../services/Catalog.ts"
import { IcebergSink } from "../../services/IcebergSink.ts"
import { tpKey } from "../../services/KafkaSource.ts"
import { type DataTable, rowsFor } from "./partitionState.ts"
import { checkpointKey } from "./tableCommits.ts"

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

/** A table of the topics as loaded: its metadata, and every group's marker in it (its ancestry walked once). */
interface LoadedTable extends TableMarkers {
  readonly metadata: TableMetadata
}

/** Each table of the topics that exists, with its markers. */
const loadTables = (topics: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const out: Array<LoadedTable> = []
    for (const [table, tableTopics] of tablesOf(topics)) {
      const id = identifierOf(table)
      if (!(yield* catalog.tableExists(id))) continue
      const metadata = (yield* catalog.loadTable(id)).metadata
      out.push({ table, topics: tableTopics, metadata, markers: readMarkers(metadata, table) })
    }
    return out
  })

/**
 * The topics other groups have ingested into a table where `group` has not ingested them, or has
 * handed them over to a group that adopted its marks; named by the groups whose markers keep them.
 */
export const othersTopics = (group: string, topics: ReadonlyArray<string>) =>
  Effect.map(loadTables(topics), (tables) => othersTopicsIn(tables, group, topics))

/**
 * What `group` adopting `from`'s marks of the table's topics commits, on the table as `own` and
 * `theirs` (their markers) find it: the topics it takes (those `from` keeps and it does not) and the
 * summary properties. Worked out again on each commit attempt.
 */
const adoption = (
  group: string,
  from: string,
  tableTopics: ReadonlyArray<string>,
  own: Result.Result<Marker | undefined, MarkerUnreadable>,
  theirs: Result.Result<Marker | undefined, MarkerUnreadable>
): Result.Result<{ readonly taken: ReadonlyArray<string>; readonly properties: Readonly<Record<string, string>> }, string> => {
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
      [handedOverKey(from)]: encodeHandedOver(theirHandedOver),
      ...(own.success?.carried[handedOverKey(group)] === undefined ? {} : { [handedOverKey(group)]: encodeHandedOver(ownHandedOver) }),
      ...checkpoints
    }
  })
}

/** Why an adoption's commit is abandoned: on the table as it now stands there is nothing left to adopt. */
const NOTHING_LEFT = "nothing left to adopt"

/** A start ingest refuses (ADR-61): it would write records other groups have ingested a second time, or adopt nothing. */
class OtherGroupsMarkers extends Schema.TaggedError<OtherGroupsMarkers>()("OtherGroupsMarkers", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

/**
 * Adopts on the tables as loaded; each commit attempt works it out again on the table as it then
 * stands. Another process of the group that adopted meanwhile leaves nothing to adopt: nothing is
 * committed, and the table is not among those returned. A topic neither group keeps any more
 * (a third group adopted it meanwhile) is refused: this group would read it again from the start.
 */
const adoptIn = (tables: ReadonlyArray<LoadedTable>, group: string, from: string, topics: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    const adopted: Array<{ readonly table: TableName; readonly topics: ReadonlyArray<string> }> = []
    for (const [table, tableTopics] of tablesOf(topics)) {
      const loaded = tables.find((t) => t.table === table)
      if (loaded === undefined) continue
      const first = adoption(group, from, tableTopics, markerOfGroup(loaded.markers, group), markerOfGroup(loaded.markers, from))
      if (Result.isFailure(first) || first.success.taken.length === 0) continue
      // The adoption the commit's last attempt worked out, and the table as that attempt found it.
      let last = first.success
      let lastBase = loaded.metadata
      // The markers as loaded while the table is unchanged (the first attempt, mostly), without walking it again.
      const markerAt = (base: TableMetadata, g: string) => base === loaded.metadata ? markerOfGroup(loaded.markers, g) : readMarker(base, g, table)
      const prepare = (base: TableMetadata) =>
        Result.flatMap(adoption(group, from, tableTopics, markerAt(base, group), markerAt(base, from)), (now) => {
          last = now
          lastBase = base
          return now.taken.length === 0 ? Result.fail(NOTHING_LEFT) : Result.succeed(now.properties)
        })
      const empty = table === "sequence_events" ? sequenceEventColumns([]) : rowsFor(table).columns()
      const committed = yield* sink.append(identifierOf(table), empty, { properties: { "k2.marks-adopted-from": from }, prepare }).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e._tag === "CommitRejected" && e.detail === NOTHING_LEFT, () => Effect.succeed(false))
      )
      if (committed) {
        adopted.push({ table, topics: last.taken })
        continue
      }
      const own = Result.getOrUndefined(markerAt(lastBase, group))
      const lost = first.success.taken.filter((t) => !keeps(own, group, t))
      if (lost.length > 0) {
        return yield* new OtherGroupsMarkers({
          detail: `${table}: group ${from}'s marks of ${lost.join(", ")} changed while group ${group} adopted them (another group adopted them, ` +
            `or the table was rolled back, meanwhile); nothing adopted there: start again to see where they stand`
        })
      }
      yield* Effect.logInfo(
        `${table}: group ${group} continues from group ${from}'s marks of ${first.success.taken.join(", ")}, adopted meanwhile by another process of the group; this one committed nothing`
      )
    }
    return adopted
  })

/**
 * `group` takes the marks of `from` for the topics it has not ingested, in every table `from` has
 * ingested them into: its marker, its topic ids and (sequence_events) its tracker checkpoints, in a
 * snapshot of no rows. Its first batch then starts where `from` stopped. Returns what it adopted.
 */
export const adoptMarks = (group: string, from: string, topics: ReadonlyArray<string>) =>
  Effect.flatMap(loadTables(topics), (tables) => adoptIn(tables, group, from, topics))

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
    // Each table loaded and its markers read once, for all that follows.
    const tables = yield* loadTables(topics)
    const found = othersTopicsIn(tables, group, topics)
    // A name mistyped would adopt nothing, silently: the topics then read from the start. Named as
    // such, not as the refusal of the groups that do hold marks (which did not name it).
    if (adopt !== undefined && heldIn(tables, adopt).length === 0) {
      const holding = [...new Set(found.flatMap((f) => f.groups))]
      return yield* new OtherGroupsMarkers({
        detail: `--adopt-marks-of ${adopt}: group ${adopt} holds no marks of ${topics.join(", ")} in these tables; nothing to adopt` +
          (holding.length === 0 ? " (no other group's marks do either)" : ` (held by group ${holding.join(", ")})`)
      })
    }
    const refused = found.filter((f) => adopt === undefined || !f.groups.includes(adopt))
    if (refused.length > 0) {
      const others = [...new Set(refused.flatMap((f) => f.groups))]
      // Said only of a group whose own marker handed a refused topic over to a group that adopted it.
      const handedOver = refused.some((f) =>
        tables.some((t) => {
          const own = t.table === f.table ? Result.getOrUndefined(markerOfGroup(t.markers, group)) : undefined
          return own !== undefined && handedOverOf(own.carried, group).has(f.topic)
        })
      )
      return yield* new OtherGroupsMarkers({
        detail: `group ${group}'s markers do not hold where topics other groups have ingested here stand: ${describeOthers(refused)}. ` +
          `Started as ${group}, ingest would read them again from its own marker where it has one` +
          (handedOver ? " (its marks were adopted by that group, which went on from them)" : "") +
          `, else from the group's committed offsets (or the earliest), and write those records a second time. ` +
          `To continue that copy, stop group ${others.join(", ")}'s ingest and run with --adopt-marks-of ${others[0]} (or as --group ${others[0]}); ` +
          `for a copy of ${group}'s own, every record written again, run with --separate-copy.`
      })
    }
    if (adopt === undefined) return
    // Only topics that are not the group's own: the flag left on a later start adopts nothing over its copy.
    const toAdopt = [...new Set(found.map((f) => f.topic))]
    if (toAdopt.length === 0) return
    for (const a of yield* adoptIn(tables, group, adopt, toAdopt)) {
      yield* Effect.logInfo(`${a.table}: group ${group} continues from group ${adopt}'s marks of ${a.topics.join(", ")}`)
    }
  })

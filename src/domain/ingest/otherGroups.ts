/**
 * What other consumer groups' markers hold of a run's topics (ADR-61), worked out from each table's
 * markers of every group (readMarkers: one walk of its ancestry), without I/O. The start check asks
 * it of every group and topic; the layer (src/layers/ingest/otherGroups.ts) loads the tables and
 * adopts.
 */
import { Result } from "effect"
import type { TableName } from "../tables.ts"
import { handedOverOf, type Marker, type MarkerUnreadable, type Offsets } from "./marker.ts"

/** Each group's marker in a table, as readMarkers reads them. */
export type GroupMarkers = ReadonlyMap<string, Result.Result<Marker, MarkerUnreadable>>

/** A table the run's topics go to, with its markers. */
export interface TableMarkers {
  readonly table: TableName
  readonly topics: ReadonlyArray<string>
  readonly markers: GroupMarkers
}

/** A topic of this run that other groups have ingested into a table where this group has not. */
export interface OthersTopic {
  readonly table: TableName
  readonly topic: string
  readonly groups: ReadonlyArray<string>
}

/** The group's marker, as readMarker reads it: none when it has none. */
export const markerOfGroup = (markers: GroupMarkers, group: string): Result.Result<Marker | undefined, MarkerUnreadable> =>
  markers.get(group) ?? Result.succeed(undefined)

/** The group's marker; undefined when it has none, or none that decodes (the ingestor refuses its own). */
const decoded = (markers: GroupMarkers, group: string): Marker | undefined => Result.getOrUndefined(markerOfGroup(markers, group))

/** Whether the offsets hold a record of the topic. */
const holds = (offsets: Offsets | undefined, topic: string) => [...offsets?.get(topic)?.values() ?? []].some((o) => o > 0n)

/**
 * Whether the group's marker is where the topic's copy stands: it holds the topic and has not
 * handed it over to a group that adopted it (whose marker went on from there).
 */
export const keeps = (marker: Marker | undefined, group: string, topic: string): boolean =>
  marker !== undefined && holds(marker.offsets, topic) && !handedOverOf(marker.carried, group).has(topic)

/**
 * The topics other groups have ingested into a table where `group` has not ingested them, or has
 * handed them over to a group that adopted its marks; named by the groups whose markers keep them.
 */
export const othersTopicsIn = (tables: ReadonlyArray<TableMarkers>, group: string, topics: ReadonlyArray<string>): ReadonlyArray<OthersTopic> => {
  const owns = tables.flatMap(({ markers }) => decoded(markers, group) ?? [])
  // Topic, not table: a crash between a flush's data-table commit and its sequence_events commit
  // leaves the group's marker in one of them only, and the copy is still its own.
  const ownTopics = new Set(topics.filter((topic) =>
    owns.some((m) => keeps(m, group, topic)) && !owns.some((m) => handedOverOf(m.carried, group).has(topic))
  ))
  return tables.flatMap(({ markers, table, topics }): Array<OthersTopic> => {
    // The ingestor refuses a marker of its own that does not decode (MarkerUnreadable).
    if (Result.isFailure(markerOfGroup(markers, group))) return []
    const others = [...markers.keys()].filter((g) => g !== group)
    return topics.flatMap((topic) => {
      if (ownTopics.has(topic)) return []
      // A group that handed the topic over is not where its copy stands: adopting from it would write again what its adopter did.
      const groups = others.filter((g) => keeps(decoded(markers, g), g, topic))
      return groups.length === 0 ? [] : [{ table, topic, groups }]
    })
  })
}

/** The topics `group` has ingested into each table of them. */
export const heldIn = (tables: ReadonlyArray<TableMarkers>, group: string): ReadonlyArray<{ readonly table: TableName; readonly topic: string }> =>
  tables.flatMap(({ markers, table, topics }) => topics.filter((topic) => holds(decoded(markers, group)?.offsets, topic)).map((topic) => ({ table, topic })))

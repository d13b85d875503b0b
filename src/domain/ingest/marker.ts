/**
 * The ingestion marker: what a consumer group has durably ingested into a table,
 * carried in the summary of every snapshot it commits as
 * `k2.kafka.offsets.<group>` = {"topic": {"partition": nextOffset}}.
 * It is a high-water mark: per partition it only ever moves forward.
 *
 * Beside it, `k2.kafka.topic-ids.<group>` = {"topic": "id"} names the topics those offsets are
 * in, where the client told their ids: offsets are positions in one log, and a topic deleted and
 * made again under its name is another log, with another id.
 */
import { Effect, Result, Schema } from "effect"
import { parseJson, stringifyJson } from "../iceberg/json.ts"
import type { Snapshot, TableMetadata } from "../iceberg/spec.ts"
import { ancestors, ancestry, currentSnapshot, type TableUpdate } from "../iceberg/metadata.ts"

export const MARKER_PREFIX = "k2.kafka.offsets."

/** The consumer group `ingest` joins by default, so the group whose marker readers follow by default. */
export const DEFAULT_INGEST_GROUP = "k2-ingest"

export const markerKey = (group: string) => `${MARKER_PREFIX}${group}`

const TOPIC_IDS_PREFIX = "k2.kafka.topic-ids."

export const topicIdsKey = (group: string) => `${TOPIC_IDS_PREFIX}${group}`

/**
 * `k2.kafka.handed-over.<group>` = {"topic": "group"}: the topics of this group's marker another
 * group adopted (ADR-61). Its marker of them stays, but stops where the copy went on: started
 * again, the group would write what the other wrote since.
 */
const HANDED_OVER_PREFIX = "k2.kafka.handed-over."

export const handedOverKey = (group: string) => `${HANDED_OVER_PREFIX}${group}`

/** The topics a group handed over, to whom; none when absent or not a map of strings. */
export const handedOverOf = (carried: Readonly<Record<string, string>>, group: string): ReadonlyMap<string, string> =>
  decodeStringMap(carried[handedOverKey(group)])

/** The value of handedOverKey: topic to the group that adopted it. */
export const encodeHandedOver = (handedOver: ReadonlyMap<string, string>): string => encodeStringMap(handedOver)

/** Summary keys naming a partition's sequence tracker checkpoint, a side file (by its location). */
export const CHECKPOINT_PREFIX = "k2.sequence.checkpoint."

/** The id of each topic whose offsets a marker holds, where it is known. */
export type TopicIds = ReadonlyMap<string, string>

/** Next offset to read, by topic and partition. */
export type Offsets = ReadonlyMap<string, ReadonlyMap<number, bigint>>

export const offsetOf = (offsets: Offsets, topic: string, partition: number): bigint | undefined =>
  offsets.get(topic)?.get(partition)

export const encodeOffsets = (offsets: Offsets): string =>
  stringifyJson(Object.fromEntries(
    [...offsets].sort(([a], [b]) => a.localeCompare(b)).map(([topic, ps]) => [
      topic,
      Object.fromEntries([...ps].sort(([a], [b]) => a - b).map(([p, o]) => [String(p), o]))
    ])
  ))

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Decodes a marker; undefined when the text is not one (a foreign or damaged property). */
export const decodeOffsets = (text: string): Offsets | undefined => {
  try {
    const raw = parseJson(text)
    if (!isObject(raw)) return undefined
    const out = new Map<string, Map<number, bigint>>()
    for (const [topic, ps] of Object.entries(raw)) {
      if (!isObject(ps)) return undefined
      const m = new Map<number, bigint>()
      for (const [p, o] of Object.entries(ps)) {
        // A partition as encodeOffsets writes it (one spelling each), at a next offset (never negative).
        if (!/^(0|[1-9]\d*)$/.test(p) || (typeof o !== "number" && typeof o !== "bigint") || o < 0) return undefined
        m.set(Number(p), BigInt(o))
      }
      out.set(topic, m)
    }
    return out
  } catch {
    return undefined
  }
}

/** Per partition the larger offset: the marker never moves backwards. */
export const mergeOffsets = (a: Offsets, b: Offsets): Offsets => {
  const out = new Map<string, Map<number, bigint>>()
  for (const source of [a, b]) {
    for (const [topic, ps] of source) {
      const m = out.get(topic) ?? new Map<number, bigint>()
      for (const [p, o] of ps) {
        const current = m.get(p)
        if (current === undefined || o > current) m.set(p, o)
      }
      out.set(topic, m)
    }
  }
  return out
}

/** A map of strings as a JSON object, keys sorted: the topic ids ({"topic": "id"}), what was handed over ({"topic": "group"}). */
const encodeStringMap = (map: ReadonlyMap<string, string>): string => JSON.stringify(Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b))))

/** A JSON object of strings; none when absent or not one (a foreign or damaged property). */
const decodeStringMap = (text: string | undefined): ReadonlyMap<string, string> => {
  if (text === undefined) return new Map()
  try {
    const raw: unknown = JSON.parse(text)
    if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === "string")) return new Map()
    return new Map(Object.entries(raw as Record<string, string>))
  } catch {
    return new Map()
  }
}

export const encodeTopicIds = (ids: TopicIds): string => encodeStringMap(ids)

/** The topic ids beside a marker; none when absent or not a map of strings (a foreign or damaged property). */
export const decodeTopicIds = (text: string | undefined): TopicIds => decodeStringMap(text)

/** A group's marker, the snapshot whose data it describes, and every key carried forward with it. */
export interface Marker {
  readonly snapshotId: bigint
  readonly offsets: Offsets
  /** The ids of the topics its offsets are in, where known. */
  readonly topicIds: TopicIds
  readonly carried: Readonly<Record<string, string>>
}

/**
 * A group's marker whose text is present but does not decode (damaged, another tool's, or a later
 * K2's encoding). Never skipped for an older one: resuming at lower offsets would ingest rows twice.
 */
export class MarkerUnreadable extends Schema.TaggedError<MarkerUnreadable>()("MarkerUnreadable", {
  table: Schema.optional(Schema.String),
  /** The snapshot whose summary holds it; absent for the copy in the table properties. */
  snapshotId: Schema.optional(Schema.BigInt),
  group: Schema.String,
  key: Schema.String
}) {
  override get message() {
    const where = this.snapshotId === undefined ? "the table properties" : `the summary of snapshot ${this.snapshotId}`
    return `${this.table === undefined ? "a table" : `table ${this.table}`}: ${where} holds ${this.key}, the marker of consumer group ` +
      `${this.group}, but it does not decode as offsets: resuming from an older marker would ingest rows twice, so K2 refuses. ` +
      `${this.snapshotId === undefined ? "Set" : "Roll the table back past that snapshot, or set"} ${this.key} right (as {"topic": {"partition": nextOffset}})`
  }
}

/**
 * The group's marker in the newest snapshot (walking back from current) that carries it; when
 * another engine expired all of them, the copy in the table properties (`mirroredCarry`), which
 * describes the current snapshot's data: no K2 commit came after the one that set it. The first
 * one present decides: one that does not decode fails (MarkerUnreadable), never an older is used.
 */
export const readMarker = (metadata: TableMetadata, group: string, table?: string): Result.Result<Marker | undefined, MarkerUnreadable> => {
  const key = markerKey(group)
  for (const snapshot of ancestors(metadata)) {
    if (snapshot.summary[key] !== undefined) return markerFrom(snapshot.summary, group, snapshot["snapshot-id"], table)
  }
  return mirroredMarker(metadata, mirroredCarry(metadata), group, table)
}

/**
 * Every group's marker in the table, each as readMarker reads it, from one walk of the ancestry:
 * the groups whose markers the snapshots carry (every K2 commit carries all of them forward,
 * another engine's none, so all are looked at) or the mirrored copy does, the mirrored copy's first.
 */
export const readMarkers = (metadata: TableMetadata, table?: string): ReadonlyMap<string, Result.Result<Marker, MarkerUnreadable>> => {
  const inSnapshots = new Map<string, Result.Result<Marker, MarkerUnreadable>>()
  for (const snapshot of ancestors(metadata)) {
    for (const key of Object.keys(snapshot.summary)) {
      if (!key.startsWith(MARKER_PREFIX)) continue
      const group = key.slice(MARKER_PREFIX.length)
      if (!inSnapshots.has(group)) inSnapshots.set(group, markerFrom(snapshot.summary, group, snapshot["snapshot-id"], table))
    }
  }
  const out = new Map<string, Result.Result<Marker, MarkerUnreadable>>()
  const mirrored = mirroredCarry(metadata)
  for (const key of Object.keys(mirrored ?? {})) {
    if (!key.startsWith(MARKER_PREFIX)) continue
    const group = key.slice(MARKER_PREFIX.length)
    const read = inSnapshots.get(group) ?? mirroredMarker(metadata, mirrored, group, table)
    if (Result.isFailure(read) || read.success !== undefined) out.set(group, read as Result.Result<Marker, MarkerUnreadable>)
  }
  for (const [group, read] of inSnapshots) if (!out.has(group)) out.set(group, read)
  return out
}

/** The group's marker in what a snapshot carries (its summary, or the mirrored copy describing `snapshotId`). */
const markerFrom = (
  carried: Readonly<Record<string, string>>,
  group: string,
  snapshotId: bigint,
  table: string | undefined,
  mirrored = false
): Result.Result<Marker, MarkerUnreadable> => {
  const key = markerKey(group)
  const offsets = decodeOffsets(carried[key]!)
  if (offsets === undefined) {
    return Result.fail(new MarkerUnreadable({ ...(table === undefined ? {} : { table }), ...(mirrored ? {} : { snapshotId }), group, key }))
  }
  return Result.succeed({ snapshotId, offsets, topicIds: decodeTopicIds(carried[topicIdsKey(group)]), carried })
}

/** The group's marker in the mirrored copy, which describes the current snapshot's data; none without either. */
const mirroredMarker = (
  metadata: TableMetadata,
  mirrored: Readonly<Record<string, string>> | undefined,
  group: string,
  table: string | undefined
): Result.Result<Marker | undefined, MarkerUnreadable> => {
  const current = currentSnapshot(metadata)
  if (mirrored?.[markerKey(group)] === undefined || current === undefined) return Result.succeed(undefined)
  return markerFrom(mirrored, group, current["snapshot-id"], table, true)
}

/** readMarker as an effect: an unreadable marker is its typed failure. */
export const markerOf = (metadata: TableMetadata, group: string, table?: string): Effect.Effect<Marker | undefined, MarkerUnreadable> => {
  const read = readMarker(metadata, group, table)
  return Result.isFailure(read) ? Effect.fail(read.failure) : Effect.succeed(read.success)
}

/** A partition a commit moves the marker of: from where this writer started it to where it ends. */
export interface MarkerMove {
  readonly topic: string
  readonly partition: number
  readonly from: bigint
  readonly to: bigint
  /** The id of the topic its records were read from; absent where the client does not tell. */
  readonly topicId?: string
}

/**
 * Fences a commit (ADR-6): on the table as it now stands (`base`), each partition's marker must
 * still be where this writer started it; then the group's marker, moved forward, is the summary
 * property to commit, with the ids of its topics: a topic read without its id loses the one
 * recorded, which may be another log's. Otherwise another writer owns a partition: why, to
 * abandon the commit.
 */
export const fence = (
  base: TableMetadata,
  group: string,
  moves: ReadonlyArray<MarkerMove>,
  table: string
): Result.Result<Record<string, string>, string> => {
  // A marker that cannot be read cannot be fenced against: the commit is abandoned (ADR-6).
  const read = readMarker(base, group, table)
  if (Result.isFailure(read)) return Result.fail(read.failure.message)
  const marker = read.success
  const current = marker?.offsets ?? new Map()
  // A topic whose marks another group adopted (ADR-61) is that group's copy now: this one, still
  // running, would write its records again.
  const handedOver = marker === undefined ? new Map<string, string>() : handedOverOf(marker.carried, group)
  for (const m of moves) {
    const to = handedOver.get(m.topic)
    if (to !== undefined) {
      return Result.fail(`group ${to} adopted group ${group}'s marks of ${m.topic} in ${table}: its copy goes on there, this writer's group no longer owns it`)
    }
  }
  for (const m of moves) {
    const there = offsetOf(current, m.topic, m.partition) ?? 0n
    if (there !== m.from) {
      return Result.fail(`${m.topic}:${m.partition} is at ${there} in ${table}, this writer started at ${m.from}: another writer owns it`)
    }
  }
  const mine = new Map<string, Map<number, bigint>>()
  for (const m of moves) {
    const partitions = mine.get(m.topic) ?? new Map<number, bigint>()
    partitions.set(m.partition, m.to)
    mine.set(m.topic, partitions)
  }
  const ids = new Map(marker?.topicIds)
  for (const m of moves) {
    if (m.topicId === undefined) ids.delete(m.topic)
    else ids.set(m.topic, m.topicId)
  }
  return Result.succeed({
    [markerKey(group)]: encodeOffsets(mergeOffsets(current, mine)),
    // Written empty once ids were recorded: the parent's would be carried forward otherwise.
    ...(ids.size === 0 && (marker?.topicIds.size ?? 0) === 0 ? {} : { [topicIdsKey(group)]: encodeTopicIds(ids) })
  })
}

/** Summary keys every snapshot must carry forward from its parent (markers of all groups, what they handed over). */
const isCarriedForward = (key: string) =>
  key.startsWith(MARKER_PREFIX) || key.startsWith(TOPIC_IDS_PREFIX) || key.startsWith(HANDED_OVER_PREFIX) || key.startsWith("k2.sequence.")

/** The entries of a snapshot summary or a property map that are carried forward. */
export const carriedOf = (entries: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(entries).filter(([k]) => isCarriedForward(k)))

/**
 * Every K2 commit also sets the keys it carries forward as table properties, with this one naming
 * its snapshot: properties outlive snapshots that another engine expires (ADR-21).
 */
export const CARRIED_FROM = "k2.carried-from-snapshot"

/** The sequence number of the snapshot CARRIED_FROM names: tells a rollback from an expiry once it is gone. */
export const CARRIED_FROM_SEQUENCE = "k2.carried-from-sequence-number"

/**
 * The property updates that make the table properties mirror exactly what `snapshot` carries:
 * none when it carries nothing and nothing is mirrored. Carried keys the properties hold but the
 * snapshot does not (its parent is a rollback's target) are removed, so the mirror never keeps
 * what a rollback discarded (that would put a marker ahead of the data).
 */
export const mirrorCarry = (snapshot: Snapshot, properties: Readonly<Record<string, string>>): ReadonlyArray<TableUpdate> => {
  const carried = carriedOf(snapshot.summary)
  const stale = Object.keys(properties).filter((k) => isCarriedForward(k) && snapshot.summary[k] === undefined)
  if (Object.keys(carried).length === 0 && properties[CARRIED_FROM] === undefined) return []
  const updates = {
    ...carried,
    [CARRIED_FROM]: String(snapshot["snapshot-id"]),
    [CARRIED_FROM_SEQUENCE]: String(snapshot["sequence-number"])
  }
  return [
    { action: "set-properties", updates },
    ...(stale.length === 0 ? [] : [{ action: "remove-properties" as const, removals: stale }])
  ]
}

/**
 * The carried keys the table properties mirror, once the snapshot that set them is expired. While
 * it is still in the table but off the current ancestry (a rollback), the data no longer holds
 * what they describe: undefined.
 */
export const mirroredCarry = (metadata: TableMetadata): Readonly<Record<string, string>> | undefined => {
  const from = metadata.properties[CARRIED_FROM]
  if (from === undefined || !/^\d+$/.test(from)) return undefined
  const id = BigInt(from)
  if (metadata.snapshots.some((s) => s["snapshot-id"] === id)) return undefined
  // Sequence numbers fall strictly along the ancestry, whose walk stops at the first expired
  // parent: an ancestor numbered at or below that snapshot's means it was never on this line
  // (a rollback to it, then its expiry), so the data does not hold what the copy describes.
  const seqText = metadata.properties[CARRIED_FROM_SEQUENCE]
  const seq = seqText !== undefined && /^\d+$/.test(seqText) ? BigInt(seqText) : 0n
  if (seq > 0n && ancestry(metadata).some((s) => s["sequence-number"] <= seq)) return undefined
  return carriedOf(metadata.properties)
}

/**
 * Pure transitions of Iceberg v2 table metadata, in the vocabulary of the REST
 * catalog protocol (requirements + updates) so that every catalog applies a
 * commit the same way: the SQL catalog applies it here and swaps the pointer,
 * the REST catalog sends it to the server.
 */
import { Schema as S } from "effect"
import { schemasRemoved, typeShape } from "./readSchema.ts"
import type { DataFile, PartitionSpec, Schema, Snapshot, SnapshotOperation, SnapshotRef, SortOrder, TableMetadata } from "./spec.ts"

export type TableRequirement =
  | { readonly type: "assert-create" }
  | { readonly type: "assert-table-uuid"; readonly uuid: string }
  | { readonly type: "assert-ref-snapshot-id"; readonly ref: string; readonly "snapshot-id": bigint | null }

export type TableUpdate =
  | { readonly action: "add-snapshot"; readonly snapshot: Snapshot }
  // The REST protocol's SetSnapshotRefUpdate: the ref becomes what it says, retention included.
  | { readonly action: "set-snapshot-ref"; readonly "ref-name": string } & SnapshotRef
  | { readonly action: "remove-snapshots"; readonly "snapshot-ids": ReadonlyArray<bigint> }
  // K2 removes only refs other than main, those past their max-ref-age-ms (expiry).
  | { readonly action: "remove-snapshot-ref"; readonly "ref-name": string }
  | { readonly action: "set-properties"; readonly updates: Readonly<Record<string, string>> }
  | { readonly action: "remove-properties"; readonly removals: ReadonlyArray<string> }
  // K2 never changes a spec; other engines may, and K2 must keep writing such tables right.
  | { readonly action: "add-spec"; readonly spec: PartitionSpec }
  | { readonly action: "set-default-spec"; readonly "spec-id": number }

/** How many earlier metadata files the log keeps: write.metadata.previous-versions-max (Java's default 100, at least 1). */
const metadataLogMax = (m: TableMetadata): number => {
  const value = Number(m.properties["write.metadata.previous-versions-max"] ?? 100)
  return Number.isSafeInteger(value) ? Math.max(1, value) : 100
}

/** Statistics files of snapshots that are not `gone` (Java drops a removed snapshot's with it). */
const keptStatistics = (files: ReadonlyArray<unknown> | undefined, gone: ReadonlySet<bigint>) =>
  files?.filter((f) => !gone.has((f as { readonly "snapshot-id"?: bigint })["snapshot-id"]!))

const MAIN = "main"

export interface NewTable {
  readonly uuid: string
  readonly location: string
  readonly schema: Schema
  readonly spec: PartitionSpec
  readonly sortOrder: SortOrder | null
  readonly properties?: Readonly<Record<string, string>>
  readonly nowMs: number
}

const maxFieldId = (schema: Schema): number => {
  let max = 0
  const visit = (type: unknown): void => {
    if (typeof type !== "object" || type === null) return
    const t = type as Record<string, unknown>
    if (t.type === "struct") for (const f of t.fields as Array<{ id: number; type: unknown }>) track(f.id, f.type)
    if (t.type === "list") track(t["element-id"] as number, t.element)
    if (t.type === "map") {
      track(t["key-id"] as number, t.key)
      track(t["value-id"] as number, t.value)
    }
  }
  const track = (id: number, type: unknown) => {
    max = Math.max(max, id)
    visit(type)
  }
  visit(schema)
  return max
}

const unsorted: SortOrder = { "order-id": 0, fields: [] }

export const newTableMetadata = (table: NewTable): TableMetadata => ({
  "format-version": 2,
  "table-uuid": table.uuid,
  location: table.location,
  "last-sequence-number": 0n,
  "last-updated-ms": table.nowMs,
  "last-column-id": maxFieldId(table.schema),
  "current-schema-id": table.schema["schema-id"],
  schemas: [table.schema],
  "default-spec-id": table.spec["spec-id"],
  "partition-specs": [table.spec],
  "last-partition-id": Math.max(999, ...table.spec.fields.map((f) => f["field-id"])),
  "default-sort-order-id": table.sortOrder?.["order-id"] ?? 0,
  "sort-orders": table.sortOrder === null ? [unsorted] : [unsorted, table.sortOrder],
  properties: { "write.format.default": "parquet", "write.parquet.compression-codec": "zstd", ...table.properties },
  snapshots: [],
  "snapshot-log": [],
  "metadata-log": [],
  refs: {}
})

/** Why a requirement does not hold on `base`, or null when all hold. */
export const unmetRequirement = (
  base: TableMetadata | null,
  requirements: ReadonlyArray<TableRequirement>
): string | null => {
  for (const r of requirements) {
    switch (r.type) {
      case "assert-create":
        if (base !== null) return "table already exists"
        break
      case "assert-table-uuid":
        if (base?.["table-uuid"] !== r.uuid) return `table uuid is not ${r.uuid}`
        break
      case "assert-ref-snapshot-id": {
        const actual = base?.refs[r.ref]?.["snapshot-id"] ?? null
        if (actual !== r["snapshot-id"]) {
          return `ref ${r.ref} is at ${actual ?? "nothing"}, expected ${r["snapshot-id"] ?? "nothing"}`
        }
      }
    }
  }
  return null
}

/**
 * An update `base` cannot take, as Java's metadata builder refuses it. `stale`: the change was
 * built on an older state of the table and holds once rebuilt on this one (a conflict); otherwise
 * it is invalid whatever the table's state.
 */
export class UpdateRefused extends S.TaggedError<UpdateRefused>()("UpdateRefused", {
  detail: S.String,
  stale: S.Boolean
}) {
  override get message() {
    return this.detail
  }
}

const invalid: (detail: string) => never = (detail) => {
  throw new UpdateRefused({ detail, stale: false })
}

/** Two refs alike in every field: setting one as it is changes nothing. */
const sameRef = (a: SnapshotRef | undefined, b: SnapshotRef) =>
  a !== undefined && a["snapshot-id"] === b["snapshot-id"] && a.type === b.type &&
  a["min-snapshots-to-keep"] === b["min-snapshots-to-keep"] && a["max-snapshot-age-ms"] === b["max-snapshot-age-ms"] &&
  a["max-ref-age-ms"] === b["max-ref-age-ms"]

/** The snapshot log's newest time (0 when empty). */
const newestLogged = (m: TableMetadata): number => m["snapshot-log"].reduce((t, e) => Math.max(t, e["timestamp-ms"]), 0)

/**
 * Apply updates to `base`; throws UpdateRefused for one it cannot take. `baseLocation` is the
 * metadata file `base` was read from: it enters the metadata log, so readers can walk the
 * table's history.
 */
export const applyUpdates = (
  base: TableMetadata,
  baseLocation: string | null,
  updates: ReadonlyArray<TableUpdate>,
  nowMs: number
): TableMetadata => {
  let m: TableMetadata = base
  /** Snapshots this change adds: main set to one is logged at its own time, to an older one (a rollback) now. */
  const added = new Set<bigint>()
  for (const u of updates) {
    switch (u.action) {
      case "add-snapshot": {
        // A child numbered at or below the last number was built before another snapshot took it
        // (one staged, or on another branch): two snapshots must never share a data sequence number.
        // As Java's builder: two snapshots of one id would make every lookup by id (refs, parents, time
        // travel) ambiguous. K2 picks an id none of its base's holds, so one taken now was taken since
        // (another writer's): stale, and the rebuilt change picks another.
        if (snapshotIndex(m).has(u.snapshot["snapshot-id"])) {
          throw new UpdateRefused({ detail: `Snapshot already exists for id: ${u.snapshot["snapshot-id"]}`, stale: true })
        }
        const number = u.snapshot["sequence-number"]
        if (u.snapshot["parent-snapshot-id"] !== undefined && number <= m["last-sequence-number"]) {
          throw new UpdateRefused({
            detail: `Cannot add snapshot with sequence number ${number} older than last sequence number ${m["last-sequence-number"]}`,
            stale: true
          })
        }
        added.add(u.snapshot["snapshot-id"])
        m = {
          ...m,
          snapshots: [...m.snapshots, u.snapshot],
          "last-sequence-number": u.snapshot["sequence-number"] > m["last-sequence-number"]
            ? u.snapshot["sequence-number"]
            : m["last-sequence-number"]
        }
        break
      }
      case "set-snapshot-ref": {
        const snapshot = m.snapshots.find((s) => s["snapshot-id"] === u["snapshot-id"])
        if (snapshot === undefined) invalid(`cannot set ${u["ref-name"]} to unknown snapshot ${u["snapshot-id"]}`)
        const { action: _, "ref-name": name, ...ref } = u
        // As Java's builder: a ref set as it is changes nothing, and logs nothing.
        if (sameRef(m.refs?.[name], ref)) break
        m = {
          ...m,
          refs: { ...m.refs, [name]: ref },
          ...(name === MAIN
            ? {
              "current-snapshot-id": u["snapshot-id"],
              "snapshot-log": [...m["snapshot-log"], {
                "snapshot-id": u["snapshot-id"],
                // A rollback never before the log's newest entry: a clock set back would put the log
                // out of order (Java refuses a log going back more than a minute), as commit.ts stamps.
                "timestamp-ms": added.has(u["snapshot-id"]) ? snapshot["timestamp-ms"] : Math.max(nowMs, newestLogged(m))
              }]
            }
            : {})
        }
        break
      }
      case "remove-snapshots": {
        const gone = new Set(u["snapshot-ids"])
        const current = m["current-snapshot-id"]
        if (current !== undefined && gone.has(current)) invalid("cannot remove the current snapshot")
        // A ref set since the removal was planned (another engine's tag of an old snapshot): removing
        // its snapshot would leave it dangling (Java drops such a ref, losing the tag). Stale, so the
        // caller plans again and keeps the snapshot.
        const held = Object.entries(m.refs).find(([, ref]) => gone.has(ref["snapshot-id"]))
        if (held !== undefined) {
          throw new UpdateRefused({ detail: `cannot remove snapshot ${held[1]["snapshot-id"]}: ref ${held[0]} points to it`, stale: true })
        }
        // As Java does: the log loses everything up to its last removed entry, not just that entry;
        // [A, B, C] less B would say A was current while B was, and time travel would read A.
        const lastGone = m["snapshot-log"].findLastIndex((e) => gone.has(e["snapshot-id"]))
        const statistics = keptStatistics(m.statistics, gone)
        const partitionStatistics = keptStatistics(m["partition-statistics"], gone)
        m = {
          ...m,
          snapshots: m.snapshots.filter((s) => !gone.has(s["snapshot-id"])),
          "snapshot-log": m["snapshot-log"].slice(lastGone + 1),
          ...(statistics === undefined ? {} : { statistics }),
          ...(partitionStatistics === undefined ? {} : { "partition-statistics": partitionStatistics })
        }
        break
      }
      case "remove-snapshot-ref": {
        const name = u["ref-name"]
        if (name === MAIN) invalid("cannot remove the main branch")
        // As Java's builder: removing a ref that is not there changes nothing.
        if (m.refs[name] === undefined) break
        m = { ...m, refs: Object.fromEntries(Object.entries(m.refs).filter(([n]) => n !== name)) }
        break
      }
      case "set-properties":
        m = { ...m, properties: { ...m.properties, ...u.updates } }
        break
      case "remove-properties": {
        const gone = new Set(u.removals)
        m = { ...m, properties: Object.fromEntries(Object.entries(m.properties).filter(([k]) => !gone.has(k))) }
        break
      }
      case "add-spec":
        if (specById(m, u.spec["spec-id"]) !== undefined) invalid(`partition spec ${u.spec["spec-id"]} exists already`)
        m = {
          ...m,
          "partition-specs": [...m["partition-specs"], u.spec],
          "last-partition-id": Math.max(m["last-partition-id"], ...u.spec.fields.map((f) => f["field-id"]))
        }
        break
      case "set-default-spec":
        if (specById(m, u["spec-id"]) === undefined) invalid(`cannot make unknown partition spec ${u["spec-id"]} the default`)
        m = { ...m, "default-spec-id": u["spec-id"] }
    }
  }
  const metadataLog = baseLocation === null
    ? m["metadata-log"]
    : [...m["metadata-log"], { "metadata-file": baseLocation, "timestamp-ms": base["last-updated-ms"] }]
  return {
    ...m,
    // Never before the snapshot log's newest entry either (Java: "Invalid update timestamp"): a
    // snapshot stamped before the clock was set back is logged later than this clock's now.
    "last-updated-ms": Math.max(nowMs, base["last-updated-ms"], newestLogged(m)),
    "metadata-log": metadataLog.slice(-metadataLogMax(m))
  }
}

/** The schema new data is written with. */
export const currentSchema = (m: TableMetadata): Schema =>
  m.schemas.find((s) => s["schema-id"] === m["current-schema-id"])!

/**
 * Why K2 cannot append `columns` (by name) to the table: its writer fills the current schema's
 * columns by name, so the values of a column since renamed would be written as null (Java reads
 * none of them), and those of a column since retyped, or dropped and added again under its name at
 * another type, are not of its type. Null otherwise: a dropped column is not written, an added one
 * is written as null, and a name now given to another column of the same type is that column's
 * (written under its field id, as any engine writing by name does; older files' values of the
 * dropped column are not its: reads go by field id).
 */
export const unwritableSchemaChange = (m: TableMetadata, columns: Iterable<string>): string | null => {
  const schema = currentSchema(m)
  const byName = new Map(schema.fields.map((f) => [f.name, f]))
  const byId = new Map(schema.fields.map((f) => [f.id, f]))
  for (const name of columns) {
    const now = byName.get(name)
    // K2's values are of the type the column had when the name first appeared (K2's), not that of
    // another engine's column that bore the name in between.
    const first = m.schemas.map((s) => s.fields.find((f) => f.name === name)).find((f) => f !== undefined)
    if (now !== undefined && first !== undefined && now.id !== first.id && typeShape(now.type) !== typeShape(first.type)) {
      const type = typeof now.type === "string" ? now.type : typeShape(now.type)
      return `column ${name} (id ${first.id}) was dropped and added again as id ${now.id} of type ${type}`
    }
    for (const older of m.schemas) {
      const was = older.fields.find((f) => f.name === name)
      if (was === undefined) continue
      const renamed = now === undefined ? byId.get(was.id) : undefined
      if (renamed !== undefined) return `column ${name} (id ${was.id}) was renamed to ${renamed.name}`
      if (now?.id === was.id && typeShape(now.type) !== typeShape(was.type)) return `column ${name} (id ${was.id}) changed type`
    }
    // The schema that named it was removed (Java's cleanExpiredMetadata): renamed, its values would
    // be written as null; dropped, they would not be written. Nothing left tells which.
    if (first === undefined && schemasRemoved(m.schemas)) {
      return `column ${name} is in none of the table's schemas, and another engine removed older schemas: renamed or dropped, K2 cannot tell`
    }
  }
  return null
}

/** The partition spec new data is written with. */
export const defaultSpec = (m: TableMetadata): PartitionSpec => specById(m, m["default-spec-id"])!

/** A partition spec of the table; a manifest's files are partitioned by the spec it names. */
export const specById = (m: TableMetadata, specId: number): PartitionSpec | undefined =>
  m["partition-specs"].find((s) => s["spec-id"] === specId)

/** The sort order new data is written with; null when unsorted (order 0). */
export const defaultSortOrder = (m: TableMetadata): SortOrder | null =>
  m["default-sort-order-id"] === 0
    ? null
    : m["sort-orders"].find((s) => s["order-id"] === m["default-sort-order-id"]) ?? null

export const currentSnapshot = (m: TableMetadata): Snapshot | undefined =>
  m["current-snapshot-id"] === undefined ? undefined : snapshotById(m, m["current-snapshot-id"])

export const snapshotById = (m: TableMetadata, id: bigint): Snapshot | undefined => snapshotIndex(m).get(id)

type SnapshotLog = TableMetadata["snapshot-log"]
/** Whether each log's times never go back, learned once per log (metadata is never changed in place). */
const timeOrdered = new WeakMap<SnapshotLog, boolean>()
const inTimeOrder = (log: SnapshotLog): boolean => {
  let ordered = timeOrdered.get(log)
  if (ordered === undefined) {
    ordered = true
    for (let i = 1; i < log.length && ordered; i++) ordered = log[i - 1]!["timestamp-ms"] <= log[i]!["timestamp-ms"]
    timeOrdered.set(log, ordered)
  }
  return ordered
}

/**
 * The snapshot that was current at `timestampMs`, from the snapshot log (what time travel reads);
 * undefined when the log cannot tell: a log that lost an expired snapshot's entry but kept older
 * ones (written before expiry trimmed it as Java does) shows it where the next entry's parent is
 * gone, and the older entry no longer says until when it was current.
 */
export const snapshotAsOf = (m: TableMetadata, timestampMs: number): Snapshot | undefined => {
  const log = m["snapshot-log"]
  let found = -1
  if (inTimeOrder(log)) {
    // The last entry at or before the time, by bisection: a scan made each request pay for the history.
    let lo = 0, hi = log.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (log[mid]!["timestamp-ms"] <= timestampMs) lo = mid + 1
      else hi = mid
    }
    found = lo - 1
  } else {
    for (const [i, entry] of log.entries()) {
      if (entry["timestamp-ms"] <= timestampMs) found = i
    }
  }
  if (found < 0) return undefined
  const id = log[found]!["snapshot-id"]
  const next = log[found + 1] === undefined ? undefined : snapshotById(m, log[found + 1]!["snapshot-id"])
  const parent = next?.["parent-snapshot-id"]
  // A next entry made before this one was logged (main set back to an older snapshot) says nothing of
  // the time between: its parent, expired or not, was older still.
  const madeSince = next !== undefined && next["timestamp-ms"] >= log[found]!["timestamp-ms"]
  if (parent !== undefined && parent !== id && madeSince && snapshotById(m, parent) === undefined) return undefined
  return snapshotById(m, id)
}

/**
 * The table had no snapshot at `timestampMs`: every snapshot is later, and none has an expired
 * parent (an expired snapshot may have been the one current then). Where snapshotAsOf finds none
 * and this is false, the state then was expired: reading the table as empty would be wrong.
 */
export const noSnapshotAt = (m: TableMetadata, timestampMs: number): boolean => {
  if (m.snapshots.some((s) => s["timestamp-ms"] <= timestampMs)) return false
  const byId = snapshotIndex(m)
  return m.snapshots.every((s) => {
    const parent = s["parent-snapshot-id"]
    return parent === undefined || byId.has(parent)
  })
}

/**
 * Built once per snapshot list (metadata is never changed in place): the catalog caches decoded
 * metadata, and a scan per lookup made every request and commit pay for the whole history.
 */
const indexes = new WeakMap<ReadonlyArray<Snapshot>, ReadonlyMap<bigint, Snapshot>>()

/**
 * Snapshots by id, for walking parents and lookups: a scan of every snapshot per step made a walk quadratic
 * (seconds, with the event loop held, once one commit a second had made a day of snapshots).
 */
const snapshotIndex = (m: TableMetadata): ReadonlyMap<bigint, Snapshot> => {
  let index = indexes.get(m.snapshots)
  if (index === undefined) {
    const built = new Map<bigint, Snapshot>()
    // The first of a repeated id, as a scan finds it.
    for (const s of m.snapshots) if (!built.has(s["snapshot-id"])) built.set(s["snapshot-id"], s)
    indexes.set(m.snapshots, index = built)
  }
  return index
}

/**
 * Snapshots from `from` (default the current one) back through its parents, newest first, one at a
 * time: a reader that stops at the first it wants (a group's marker, mostly in the current snapshot)
 * does not build the whole history.
 */
export function* ancestors(m: TableMetadata, from: bigint | undefined = m["current-snapshot-id"]): Generator<Snapshot, void> {
  const index = snapshotIndex(m)
  let s = from === undefined ? undefined : index.get(from)
  // A parent cycle (damaged metadata) ends the walk rather than looping.
  for (let n = 0; s !== undefined && n < index.size; n++) {
    yield s
    const parent = s["parent-snapshot-id"]
    s = parent === undefined ? undefined : index.get(parent)
  }
}

/** Snapshots from `from` (default the current one) back through its parents, newest first (a loop: a generator's steps cost more). */
export const ancestry = (m: TableMetadata, from: bigint | undefined = m["current-snapshot-id"]): ReadonlyArray<Snapshot> => {
  const index = snapshotIndex(m)
  const out: Array<Snapshot> = []
  let s = from === undefined ? undefined : index.get(from)
  // A parent cycle (damaged metadata) ends the walk rather than looping.
  while (s !== undefined && out.length < index.size) {
    out.push(s)
    const parent = s["parent-snapshot-id"]
    s = parent === undefined ? undefined : index.get(parent)
  }
  return out
}

/** A random positive 63-bit id, as Java makes them. */
export const newSnapshotId = (): bigint => {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  bytes[0]! &= 0x7f
  const id = new DataView(bytes.buffer).getBigUint64(0)
  return id === 0n ? 1n : id
}

/**
 * Whether `m` names snapshot `id` anywhere: a snapshot, a parent, the log, a ref (an expired
 * snapshot's id may linger in the last three). Looked up for the
 * one id drawn (a 63-bit random id nearly never is), not gathered into a set: at an hour of
 * one-second commits that set was ~11,000 ids built at every commit (~1.3 ms, ADR-84).
 */
const namesSnapshot = (m: TableMetadata, id: bigint): boolean =>
  m.snapshots.some((s) => s["snapshot-id"] === id || s["parent-snapshot-id"] === id) ||
  m["snapshot-log"].some((e) => e["snapshot-id"] === id) ||
  Object.values(m.refs).some((r) => r["snapshot-id"] === id)

/**
 * The id of a snapshot to add to `m`: drawn from `draw` again while `m` names it, as Java's
 * SnapshotProducer draws again while its base has it. Reusing an expired snapshot's id too would
 * make the walk from its child, or the log's entry of it, find the new snapshot.
 */
export const freshSnapshotId = (m: TableMetadata, draw: () => bigint = newSnapshotId): bigint => {
  let id = draw()
  while (namesSnapshot(m, id)) id = draw()
  return id
}

const sum = (files: ReadonlyArray<DataFile>, f: (d: DataFile) => number) => files.reduce((n, d) => n + f(d), 0)

const partitionKey = (d: DataFile) => JSON.stringify(d.partition)

/**
 * The standard snapshot summary (spec "Snapshot summary"), carrying totals forward from the parent.
 * As Java's SnapshotProducer: a table's first snapshot starts them at 0; a total the parent does
 * not state (an older writer's) stays unstated, since this commit's files alone are not the table's.
 */
export const snapshotSummary = (
  operation: SnapshotOperation,
  parent: Snapshot | undefined,
  added: ReadonlyArray<DataFile>,
  deleted: ReadonlyArray<DataFile>,
  extra: Readonly<Record<string, string>>
): Snapshot["summary"] => {
  const total = (key: string, change: number): Record<string, string> => {
    const before = parent === undefined ? "0" : parent.summary[key]
    if (before === undefined || !/^\d+$/.test(before)) return {}
    const after = Number(before) + change
    return Number.isSafeInteger(after) && after >= 0 ? { [key]: String(after) } : {}
  }
  const addedRecords = sum(added, (d) => d.recordCount)
  const deletedRecords = sum(deleted, (d) => d.recordCount)
  const addedSize = sum(added, (d) => d.fileSizeInBytes)
  const removedSize = sum(deleted, (d) => d.fileSizeInBytes)
  const changed = new Set([...added, ...deleted].map(partitionKey))
  return {
    ...extra,
    operation,
    "added-data-files": String(added.length),
    "added-records": String(addedRecords),
    "added-files-size": String(addedSize),
    ...(deleted.length > 0
      ? {
        "deleted-data-files": String(deleted.length),
        "deleted-records": String(deletedRecords),
        "removed-files-size": String(removedSize)
      }
      : {}),
    "changed-partition-count": String(changed.size),
    ...total("total-data-files", added.length - deleted.length),
    ...total("total-records", addedRecords - deletedRecords),
    ...total("total-files-size", addedSize - removedSize),
    // K2 adds and removes no delete files.
    ...total("total-delete-files", 0),
    ...total("total-position-deletes", 0),
    ...total("total-equality-deletes", 0)
  }
}

const withoutTrailingSlash = (path: string) => path.replace(/\/+$/, "")

/** A path-valued table property, trailing slashes dropped; undefined when unset or empty. */
const pathProperty = (m: TableMetadata, key: string): string | undefined => {
  const value = m.properties[key]
  return value === undefined || withoutTrailingSlash(value) === "" ? undefined : withoutTrailingSlash(value)
}

/**
 * The directory of a table's metadata files (metadata.json, manifest lists, manifests): the
 * `write.metadata.path` property when set, else `<location>/metadata`, as Java's TableOperations
 * places them.
 */
export const metadataDirectory = (m: TableMetadata): string =>
  pathProperty(m, "write.metadata.path") ?? `${withoutTrailingSlash(m.location)}/metadata`

/**
 * Where a table's data files go, as Java's DefaultLocationProvider places them: `write.data.path`,
 * else the legacy `write.folder-storage.path`, else `<location>/data`. `write.object-storage.enabled`
 * (hashed prefixes for object stores) and `write.location-provider.impl` are not followed: every
 * file is named by its full path in the manifests, so files at the default place make a valid table.
 */
export const dataDirectory = (m: TableMetadata): string =>
  pathProperty(m, "write.data.path") ?? pathProperty(m, "write.folder-storage.path") ?? `${withoutTrailingSlash(m.location)}/data`

/** Java's default table location (JdbcCatalog, RESTCatalogServer over it): `<warehouse>/<level>/.../<name>`, no `.db`. */
export const defaultTableLocation = (warehouse: string, namespaceLevels: ReadonlyArray<string>, name: string): string =>
  [withoutTrailingSlash(warehouse), ...namespaceLevels, name].join("/")

/** Metadata file name `<version>-<uuid>.metadata.json`, version one above the base's (Java's convention). */
export const nextMetadataFileName = (baseLocation: string | null, uuid: string): string => {
  const match = baseLocation === null ? null : /(\d+)-[^/]*\.metadata\.json$/.exec(baseLocation)
  const version = match === null ? 0 : Number(match[1]) + 1
  return `${String(version).padStart(5, "0")}-${uuid}.metadata.json`
}

/**
 * Decoded metadata by file location (a metadata file never changes once written): each table's
 * newest file read or written, whatever its history weighs. Each commit writes a new file that
 * repeats every retained snapshot, so a file it superseded is dropped rather than kept as a
 * near-copy (its table's pointer names it no more). A cache bounded by snapshots (20,000) kept only
 * one table of a longer history: reads of trades and quotes in turn parsed each table's file
 * anew at every request (seconds, a day of one-second commits being 88 MB). What it holds is what
 * reading each table needs at once anyway: one current metadata per table the process reads.
 */
export const metadataCache = () => {
  const newest = new Map<string, { readonly location: string; readonly metadata: TableMetadata }>()
  const tableOf = new Map<string, string>()
  return {
    get(location: string): TableMetadata | undefined {
      const table = tableOf.get(location)
      return table === undefined ? undefined : newest.get(table)?.metadata
    },
    set(table: string, location: string, metadata: TableMetadata) {
      const before = newest.get(table)
      if (before !== undefined) tableOf.delete(before.location)
      newest.set(table, { location, metadata })
      tableOf.set(location, table)
    }
  }
}

/**
 * The highest sequence number committed by the time `pinned` was made current: after a rollback
 * (main set back to an older snapshot) the snapshots rolled back were committed before the pin, and
 * are still there to read by id; only those committed since are left out.
 */
export const committedBy = (m: TableMetadata, pinned: Snapshot): bigint => {
  const log = m["snapshot-log"]
  const last = log.findLastIndex((e) => e["snapshot-id"] === pinned["snapshot-id"])
  let bound = pinned["sequence-number"]
  for (let i = 0; i <= last; i++) {
    const s = snapshotById(m, log[i]!["snapshot-id"])
    if (s !== undefined && s["sequence-number"] > bound) bound = s["sequence-number"]
  }
  return bound
}

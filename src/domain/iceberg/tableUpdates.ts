/**
 * Commit updates, in the vocabulary of the REST catalog protocol, and how they apply to table
 * metadata as Java's metadata builder applies them (the SQL catalog applies them here; the REST
 * catalog sends them to the server).
 */
import { Schema as S } from "effect"
import { snapshotIndex } from "./snapshotLookup.ts"
import { specById } from "./specAndOrder.ts"
import type { PartitionSpec, Snapshot, SnapshotRef, TableMetadata } from "./spec.ts"

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

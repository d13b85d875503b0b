/**
 * Snapshot expiry: the snapshots and refs older than the settings (the options, else the table's
 * history.expire.* properties) removed in one commit, planned again on a fresh base after a
 * conflict, keeping each consumer group's newest marker snapshot and its chain (`planExpiry`).
 */
import { Clock, Effect, Result } from "effect"
import { readMarker } from "../../domain/ingest/marker.ts"
import { type Catalog, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import type { ExpireOptions, ExpireResult } from "../../services/Maintenance.ts"
import { type CommitOptions, commitBackoff, isRetryableCommit } from "../iceberg/commit.ts"
import { markerGroups, planExpiry } from "./plan.ts"
import { type JAVA_MAX, positiveProperty } from "./propertyNumbers.ts"

const DEFAULT_MAX_SNAPSHOT_AGE_MS = 5 * 24 * 3_600_000

export const makeExpireSnapshots = (catalog: Catalog["Service"], files: FileIO["Service"], commitOptions: CommitOptions) => {
  // A metadata.json's length (0 when it cannot be read), for the expiry report. FileIO has no stat, and
  // `list` is no cheaper: it stats every file under the directory, one after another (`walk`), and the
  // metadata directory of a table whose metadata.json is large (a day of one-second commits, ADR-77)
  // holds a manifest list and a manifest per snapshot besides. A file never changes once written, so
  // one location is read once (`expireSnapshots`).
  const sizeOf = (location: string) =>
    files.read(location).pipe(Effect.map((b) => b.length), Effect.orElseSucceed(() => 0))

  return Effect.fn("Maintenance.expireSnapshots")(function*(
    identifier: TableIdentifier,
    expireOptions: ExpireOptions = {}
  ) {
    const first = yield* catalog.loadTable(identifier)
    const metadataBytesBefore = yield* sizeOf(first.metadataLocation)
    const snapshotsBefore = first.metadata.snapshots.length
    // What every attempt that may have landed planned: one whose commit landed unseen leaves its
    // retry nothing to plan. Not one refused (a conflict): another expiry may have removed those since.
    const planned = new Set<bigint>()
    const plannedRefs = new Set<string>()
    const attempt = Effect.gen(function*() {
      const base = yield* catalog.loadTable(identifier)
      const m = base.metadata
      // As in every Iceberg engine, the table's history.expire.* properties are the defaults, read
      // as Java's RemoveSnapshots reads them (min-snapshots-to-keep an int, the ages longs).
      const setting = (key: string, type: keyof typeof JAVA_MAX, fallback: number) => positiveProperty(identifier, m, key, type, fallback)
      // A marker that does not decode is refused, not planned around: expiry would keep only the
      // chain to an older readable one, or none, and that snapshot is what a rollback repairs it with.
      for (const group of markerGroups(m)) {
        const read = readMarker(m, group, showIdentifier(identifier))
        if (Result.isFailure(read)) return yield* read.failure
      }
      const plan = planExpiry(m, {
        maxSnapshotAgeMs: expireOptions.maxSnapshotAgeMs ?? (yield* setting("history.expire.max-snapshot-age-ms", "long", DEFAULT_MAX_SNAPSHOT_AGE_MS)),
        retainLast: expireOptions.retainLast ?? (yield* setting("history.expire.min-snapshots-to-keep", "int", 1)),
        nowMs: expireOptions.nowMs ?? (yield* Clock.currentTimeMillis),
        // Unset, as in Java: refs never age out.
        maxRefAgeMs: yield* setting("history.expire.max-ref-age-ms", "long", Number.POSITIVE_INFINITY)
      })
      const note = Effect.sync(() => {
        for (const id of plan.expire) planned.add(id)
        for (const ref of plan.expiredRefs) plannedRefs.add(ref)
      })
      if (plan.expire.length === 0 && plan.expiredRefs.length === 0) return { table: base, plan }
      // Every ref the plan kept a snapshot for stays where it was: a ref moved meanwhile onto a
      // snapshot being removed would dangle (a REST server's builder drops it). A ref created
      // meanwhile no requirement can name: applyUpdates refuses removing its snapshot (stale).
      const refs = Object.entries(m.refs).filter(([name]) => name !== "main")
      const committed = yield* catalog.commitTable(identifier, [
        { type: "assert-table-uuid", uuid: m["table-uuid"] },
        { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": m["current-snapshot-id"] ?? null },
        ...refs.map(([ref, r]) => ({ type: "assert-ref-snapshot-id" as const, ref, "snapshot-id": r["snapshot-id"] }))
      ], [
        ...plan.expiredRefs.map((ref) => ({ action: "remove-snapshot-ref" as const, "ref-name": ref })),
        ...(plan.expire.length === 0 ? [] : [{ action: "remove-snapshots" as const, "snapshot-ids": plan.expire }])
      ]).pipe(
        Effect.tap(note),
        Effect.tapError((e) => e.reason._tag === "CommitStateUnknown" ? note : Effect.void)
      )
      return { table: committed, plan }
    })
    // A conflict (ingestion committed meanwhile) or an unknown outcome: plan again on a fresh
    // base; removing snapshots that are already gone is a no-op in the plan.
    const { table, plan } = yield* attempt.pipe(
      Effect.retry({ schedule: commitBackoff(commitOptions.maxAttempts), while: isRetryableCommit })
    )
    const kept = new Set(table.metadata.snapshots.map((s) => s["snapshot-id"]))
    const result: ExpireResult = {
      table: identifier,
      snapshotsBefore,
      snapshotsAfter: table.metadata.snapshots.length,
      expired: [...planned].filter((id) => !kept.has(id)),
      refsRemoved: [...plannedRefs].filter((ref) => table.metadata.refs[ref] === undefined),
      markers: plan.markers,
      metadataBytesBefore,
      // Nothing committed meanwhile (nothing to expire on a quiet table): the same file, not read again.
      metadataBytesAfter: table.metadataLocation === first.metadataLocation ? metadataBytesBefore : yield* sizeOf(table.metadataLocation)
    }
    return result
  })
}

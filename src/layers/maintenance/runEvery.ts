/** `runEvery`: maintenance of some tables on a period, each run's report logged, its failures never fatal. */
import { type Duration, Effect } from "effect"
import { showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { type CompactResult, type ExpireResult, Maintenance, type MaintenanceOptions, type OrphanResult } from "../../services/Maintenance.ts"
import { repeatEvery } from "./repeatEvery.ts"

/** Runs maintenance of `tables` every `interval` (from each run's start), logging each report; failures are logged, never fatal. */
export const runEvery = (
  tables: ReadonlyArray<TableIdentifier>,
  interval: Duration.Input,
  options: MaintenanceOptions = {}
) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    for (const table of tables) {
      yield* maintenance.run(table, options).pipe(
        Effect.flatMap((r) => {
          // Not there yet (an ingest creates its tables beside the first run): skipped, as `compact`
          // skips a missing default table, rather than warned about as each step failed.
          const absent = [r.compactFailure, r.expireFailure, r.orphanFailure]
            .find((f) => f?._tag === "CatalogError" && f.reason._tag === "NoSuchTable")
          if (absent != null) return Effect.logInfo(`maintenance of ${showIdentifier(table)} skipped: ${absent.message}`)
          return Effect.all([
            Effect.logInfo(summaryLine(r)),
            r.compactFailure === null ? Effect.void : Effect.logWarning(`compaction of ${showIdentifier(table)} failed: ${r.compactFailure.message}`),
            r.expireFailure === null ? Effect.void : Effect.logWarning(`snapshot expiry of ${showIdentifier(table)} failed: ${r.expireFailure.message}`),
            r.orphanFailure === null ? Effect.void : Effect.logWarning(`orphan removal of ${showIdentifier(table)} failed: ${r.orphanFailure.message}`)
          ], { discard: true })
        }),
        Effect.catchCause((cause) => Effect.logWarning(`maintenance of ${showIdentifier(table)} failed`, cause))
      )
    }
  }).pipe((run) => repeatEvery(run, interval))

/** One line per table: files before → after, snapshots expired, orphans removed. */
const summaryLine = (r: {
  readonly table: TableIdentifier
  readonly compact: CompactResult | null
  readonly expire: ExpireResult | null
  readonly orphans: OrphanResult | null
}) =>
  [
    showIdentifier(r.table),
    r.compact === null
      ? null
      : `files ${r.compact.filesBefore} -> ${r.compact.filesAfter} (${r.compact.partitions.length} partition${r.compact.partitions.length === 1 ? "" : "s"} rewritten)`,
    r.expire === null
      ? null
      : `snapshots ${r.expire.snapshotsBefore} -> ${r.expire.snapshotsAfter}, metadata.json ${r.expire.metadataBytesBefore} -> ${r.expire.metadataBytesAfter} bytes`,
    r.orphans === null
      ? null
      : `orphans removed ${r.orphans.removed.length} (${r.orphans.bytesRemoved} bytes, ${r.orphans.tooYoung} within grace)`
  ].filter((s) => s !== null).join("; ")

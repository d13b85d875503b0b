/** The live data files of a table's current snapshot: what compaction plans from and counts. */
import { Effect } from "effect"
import { currentSnapshot } from "../../domain/iceberg/metadata.ts"
import { ManifestEntryStatus, type TableMetadata } from "../../domain/iceberg/spec.ts"
import type { TableIdentifier } from "../../services/Catalog.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"
import { entriesOf, manifestsOf } from "./manifestReads.ts"

/** Live data files of the current snapshot, with the spec each was written under. */
export const liveFiles = (snapshots: SnapshotFiles, identifier: TableIdentifier, m: TableMetadata) =>
  Effect.gen(function*() {
    const current = currentSnapshot(m)
    if (current === undefined) return []
    const manifests = yield* manifestsOf(snapshots, identifier)(current)
    const entries = yield* Effect.forEach(manifests, entriesOf(snapshots, identifier, m), { concurrency: 8 })
    return manifests.flatMap((mf, i) =>
      entries[i]!.filter((e) => e.status !== ManifestEntryStatus.DELETED).map((e) => ({
        file: e.dataFile,
        specId: mf.partitionSpecId,
        content: mf.content
      }))
    )
  })

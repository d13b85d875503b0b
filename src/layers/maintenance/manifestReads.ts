/**
 * A snapshot's manifests and a manifest's entries through SnapshotFiles, for compaction and orphan
 * removal; what K2 does not read is refused by name, as the planner refuses it.
 */
import { Effect } from "effect"
import type { TableFileError } from "../../domain/iceberg/errors.ts"
import { currentSchema, specById } from "../../domain/iceberg/metadata.ts"
import type { ManifestEntry, Snapshot, TableMetadata } from "../../domain/iceberg/spec.ts"
import { showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { manifestListRefusal, manifestRefusal } from "../iceberg/fileio.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"

export type ManifestFile = Parameters<SnapshotFiles["manifestEntries"]>[0]

/**
 * A manifest's entries. One K2 does not read (on s3://, encrypted, of a partition spec whose values
 * K2 does not hold: another engine's identity(string), say) is refused by name, as the planner does
 * (`manifestRefusal`), rather than failing as a missing or corrupt file.
 */
export const entriesOf = (snapshots: SnapshotFiles, identifier: TableIdentifier, m: TableMetadata) =>
(manifest: ManifestFile): Effect.Effect<ReadonlyArray<ManifestEntry>, TableFileError | UnsupportedTableFeature> => {
  const refused = manifestRefusal(manifest, specById(m, manifest.partitionSpecId), currentSchema(m))
  return refused === null
    ? snapshots.manifestEntries(manifest)
    : Effect.fail(new UnsupportedTableFeature({ table: showIdentifier(identifier), feature: refused }))
}

/** A snapshot's manifests; a list on storage K2 does not reach is refused by name (`manifestListRefusal`), as the planner does. */
export const manifestsOf = (snapshots: SnapshotFiles, identifier: TableIdentifier) =>
(snapshot: Snapshot): Effect.Effect<ReadonlyArray<ManifestFile>, TableFileError | UnsupportedTableFeature> => {
  const refused = manifestListRefusal(snapshot)
  return refused === null
    ? snapshots.manifestList(snapshot)
    : Effect.fail(new UnsupportedTableFeature({ table: showIdentifier(identifier), feature: refused }))
}

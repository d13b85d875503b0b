/**
 * One partition's compaction: its small files rewritten by DuckDB, sorted, into files near the
 * target size, and committed as one `replace` snapshot (`commitChange`: rebuilt on a new base after
 * a conflict). Rows in and out are counted; files another run removed meanwhile skip the day.
 */
import { Effect } from "effect"
import type { TableFileError } from "../../domain/iceberg/errors.ts"
import { currentSchema, dataDirectory, defaultSortOrder, defaultSpec } from "../../domain/iceberg/metadata.ts"
import type { ReadSchema } from "../../domain/iceberg/readSchema.ts"
import type { DataFile } from "../../domain/iceberg/spec.ts"
import { Catalog, type LoadedTable, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { FilesNoLongerLive } from "../../services/IcebergSink.ts"
import { type CompactOptions, MaintenanceRefused } from "../../services/Maintenance.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { type CommitOptions, commitChange, removeUnlessMaybeLanded } from "../iceberg/commit.ts"
import { asStorageFailure } from "../iceberg/parquet.ts"
import { rewriteDataFiles } from "../iceberg/rewriteDataFiles.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"
import { liveFiles } from "./liveFiles.ts"

/** Marks maintenance snapshots in their summary. */
const MAINTENANCE_KEY = "k2.maintenance"

export const makeCompactPartition = (
  catalog: Catalog["Service"],
  files: FileIO["Service"],
  duckDb: DuckDb["Service"],
  snapshots: SnapshotFiles,
  commitOptions: CommitOptions
) =>
  Effect.fnUntraced(function*(
    identifier: TableIdentifier,
    table: LoadedTable,
    inputs: ReadonlyArray<DataFile>,
    /** How the files are read as the current schema (compactDays checked it once for every day). */
    readSchema: ReadSchema,
    compact: Required<Pick<CompactOptions, "targetFileSizeBytes">> & CompactOptions
  ) {
    const m = table.metadata
    // Once the rewrite is done, the rest runs to its end: interrupted (SIGTERM, `--every` stopped)
    // before or while committing, the rewritten files would stay unreferenced for the orphan grace
    // beside the files they replace, or a REST commit in flight be cut at an unknown outcome.
    return yield* Effect.uninterruptibleMask((restore) => Effect.gen(function*() {
      const added = yield* restore(rewriteDataFiles(inputs.map((f) => f.filePath), readSchema, {
        schema: currentSchema(m),
        spec: defaultSpec(m),
        sortOrder: defaultSortOrder(m),
        directory: dataDirectory(m),
        targetFileSizeBytes: compact.targetFileSizeBytes,
        fileNamePrefix: "k2-compacted",
        rowGroupSize: compact.rowGroupSize,
        table: showIdentifier(identifier),
        properties: m.properties
      }).pipe(
        Effect.provideService(DuckDb, duckDb),
        Effect.mapError(asStorageFailure(m.location)),
        // Another run (a second `compact`, an ingest's --maintain-every) compacted these files and
        // removed them as orphans while this one read them: its result stands, as when it commits first.
        Effect.catchTag("TableFileError", (e) =>
          Effect.gen(function*() {
            const now = yield* catalog.loadTable(identifier)
            const live = new Set((yield* liveFiles(snapshots, identifier, now.metadata)).map((l) => l.file.filePath))
            return inputs.filter((f) => !live.has(f.filePath)).map((f) => f.filePath)
          }).pipe(
            // Not known (the catalog failing): the day's own failure stands.
            Effect.orElseSucceed((): ReadonlyArray<string> => []),
            Effect.flatMap((gone): Effect.Effect<never, TableFileError | FilesNoLongerLive> =>
              gone.length === 0 ? Effect.fail(e) : Effect.fail(new FilesNoLongerLive({ table: showIdentifier(identifier), paths: gone })))
          ))
      ))
      const rowsIn = inputs.reduce((n, f) => n + f.recordCount, 0)
      const rowsOut = added.reduce((n, f) => n + f.recordCount, 0)
      const cleanup = Effect.forEach(added, (f) => files.remove(f.filePath), { discard: true }).pipe(Effect.ignore)
      if (rowsIn !== rowsOut) {
        yield* cleanup
        return yield* new MaintenanceRefused({
          table: showIdentifier(identifier),
          detail: `rewrite of ${inputs.length} files produced ${rowsOut} rows, expected ${rowsIn}`
        })
      }
      const committed = yield* commitChange(snapshots, identifier, {
        operation: "replace",
        added,
        addedSpecId: m["default-spec-id"],
        tableUuid: m["table-uuid"],
        removed: inputs,
        properties: { [MAINTENANCE_KEY]: "compaction" }
      }, commitOptions).pipe(
        Effect.provideService(Catalog, catalog),
        Effect.provideService(FileIO, files),
        Effect.tapError(removeUnlessMaybeLanded(files, added))
      )
      return { added, committed }
    }))
  })

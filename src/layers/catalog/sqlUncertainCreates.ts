/**
 * The metadata files of this catalog's table creates whose INSERT's outcome is unknown, kept until
 * the table's row says whether they are its history, and a new table's metadata directories
 * refused when they hold another table's metadata files (ADR-47).
 */
import * as path from "node:path"
import { Effect, Schedule } from "effect"
import { metadataDirectory } from "../../domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import { AlreadyExists, type CatalogError, catalogError, LocationInUse, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { fileLocation, isLocalLocation, localPath } from "../iceberg/fileio.ts"
import { otherTablesMetadata } from "../iceberg/otherTables.ts"

export const makeUncertainCreates = (
  files: FileIO["Service"],
  pointer: (id: TableIdentifier) => Effect.Effect<string | undefined, CatalogError>
) => {
  /**
   * By table, the metadata files of this catalog's creates whose INSERT's connection broke: the row
   * may have landed (pointing at the file) or not. Not another table's when the table is created
   * again (the next try would be refused as LocationInUse, ending ingest); removed once the table's
   * row is known to point elsewhere: an INSERT still pending then fails on the key.
   */
  const uncertainCreates = new Map<string, Array<{ readonly location: string; readonly uuid: string }>>()

  /**
   * Removes `table`'s uncertain creates' files but those of the table registered now (`tableUuid`):
   * a create of it landed, and its file is the table's history (metadata log) however far its row
   * has moved since.
   */
  const settleCreates = (table: string, tableUuid: string) =>
    Effect.suspend(() => {
      const uncertain = uncertainCreates.get(table) ?? []
      uncertainCreates.delete(table)
      return Effect.forEach(uncertain.filter((c) => c.uuid !== tableUuid), (c) => files.remove(c.location).pipe(Effect.ignore), { discard: true })
    })

  /**
   * Fails (LocationInUse) when a new table's metadata directories already hold another table's
   * metadata files (ADR-47): files directly in them, as a table nested below keeps its own one level
   * down. Another process of this catalog creating the same table writes its metadata file before
   * it registers it: given a moment, its row shows, and the name is taken (AlreadyExists) instead.
   * The files of this catalog's own uncertain creates of the table are not another table's.
   */
  const refuseLocationInUse = Effect.fnUntraced(function*(identifier: TableIdentifier, metadata: TableMetadata) {
    // Storage K2 does not reach is refused when the metadata file is written.
    const directories = [`${metadata.location.replace(/\/+$/, "")}/metadata`, metadataDirectory(metadata)].filter(isLocalLocation)
    const listed = yield* Effect.forEach(new Set(directories.map((dir) => path.resolve(localPath(dir)))), (dir) =>
      files.list(fileLocation(dir)).pipe(
        Effect.map((entries) => entries.map((e) => e.location).filter((l) => path.dirname(localPath(l)) === dir))
      )).pipe(Effect.mapError(catalogError))
    // Those files themselves, not their table-uuid: one that landed, was committed to and dropped
    // left more files of that uuid, a dropped table's place as any other.
    const mine = new Set((uncertainCreates.get(showIdentifier(identifier)) ?? []).map((c) => c.location))
    const foreign = (yield* otherTablesMetadata(files, listed.flat(), metadata["table-uuid"]).pipe(Effect.mapError(catalogError)))
      .filter((f) => !mine.has(f.metadataFile))
    if (foreign.length === 0) return
    const registered = yield* pointer(identifier).pipe(
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), times: 10, until: (l) => l !== undefined })
    )
    const table = showIdentifier(identifier)
    if (registered !== undefined) return yield* catalogError(new AlreadyExists({ name: table }))
    return yield* catalogError(new LocationInUse({ table, location: metadata.location, foreign }))
  })

  return { uncertainCreates, settleCreates, refuseLocationInUse }
}

/**
 * Metadata files of other tables at a table's place: what orphan removal (ADR-42) and table
 * creation (ADR-47) look for, since two tables' files at one location are each other's orphans.
 */
import * as zlib from "node:zlib"
import { Effect, Result, Schema } from "effect"
import { isMissingFile } from "../../domain/iceberg/errors.ts"
import type { FileIO } from "../../services/FileIO.ts"

/** A table metadata file's name, plain or gzip (`*.gz.metadata.json`, Java's older `*.metadata.json.gz`). */
export const isMetadataFileName = (location: string): boolean => /\.metadata\.json(\.gz)?$/.test(location)

const TableUuidJson = Schema.fromJsonString(Schema.Struct({ "table-uuid": Schema.String }))
const decodeTableUuid = Schema.decodeUnknownResult(TableUuidJson)

/**
 * The `table-uuid` a metadata file's bytes name (gzip told apart by its magic bytes, as the catalog
 * reads it); null when they are not table metadata (truncated by a crash mid-write: no table loads it).
 */
export const tableUuidOf = (bytes: Uint8Array): string | null => {
  let text: string
  try {
    text = new TextDecoder().decode(bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes)
  } catch {
    return null
  }
  const decoded = decodeTableUuid(text)
  return Result.isSuccess(decoded) ? decoded.success["table-uuid"] : null
}

export interface ForeignMetadataFile {
  readonly metadataFile: string
  readonly tableUuid: string
}

/**
 * The metadata files among `locations` naming a table-uuid other than `tableUuid`, each with the one
 * it names, sorted. One that is not table metadata (truncated) is no table's, nor is one removed
 * since it was listed (a commit's write.metadata.delete-after-commit).
 */
export const otherTablesMetadata = (files: FileIO["Service"], locations: ReadonlyArray<string>, tableUuid: string) =>
  Effect.gen(function*() {
    const candidates = locations.filter(isMetadataFileName)
    const uuids = yield* Effect.forEach(
      candidates,
      (location) => files.read(location).pipe(Effect.map(tableUuidOf), Effect.catchIf(isMissingFile, () => Effect.succeed(null))),
      { concurrency: 8 }
    )
    const foreign: Array<ForeignMetadataFile> = candidates.flatMap((metadataFile, i) => {
      const uuid = uuids[i]
      return uuid == null || uuid === tableUuid ? [] : [{ metadataFile, tableUuid: uuid }]
    })
    return foreign.sort((a, b) => a.metadataFile.localeCompare(b.metadataFile))
  })

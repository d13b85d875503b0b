/**
 * Metadata files of other tables at a table's place: what orphan removal (ADR-42) and table
 * creation (ADR-47) look for, since two tables' files at one location are each other's orphans.
 */
import * as zlib from "node:zlib"
import { constants } from "node:buffer"
import { Effect } from "effect"
import { isMissingFile } from "../../domain/iceberg/errors.ts"
import { topLevelMember } from "../../domain/iceberg/jsonBytes.ts"
import type { FileIO } from "../../services/FileIO.ts"

/** A table metadata file's name, plain or gzip (`*.gz.metadata.json`, Java's older `*.metadata.json.gz`). */
export const isMetadataFileName = (location: string): boolean => /\.metadata\.json(\.gz)?$/.test(location)

/**
 * The `table-uuid` a metadata file's bytes name (gzip told apart by its magic bytes, as the catalog
 * reads it); null when they are not table metadata (truncated by a crash mid-write: no table loads it).
 * Read from the bytes, the member alone decoded: the whole file as one string failed past V8's
 * ~512 MiB limit, and cost ~6 times the CPU (ADR-81). `maxString`: the longest piece decoded (tests lower it).
 */
export const tableUuidOf = (bytes: Uint8Array, maxString: number = constants.MAX_STRING_LENGTH): string | null => {
  try {
    const uuid = topLevelMember(bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes, "table-uuid", maxString)
    return typeof uuid === "string" ? uuid : null
  } catch {
    return null
  }
}

interface ForeignMetadataFile {
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

/**
 * A table's metadata files as the SQL catalog reads and writes them (the catalog writes them
 * itself): read once however many ask at once, gzip or not, and kept in the catalog's cache (a
 * file written, once the table's pointer names it).
 */
import * as zlib from "node:zlib"
import { Deferred, Effect, Result } from "effect"
import { CorruptFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { type metadataCache, metadataDirectory, nextMetadataFileName } from "../../domain/iceberg/metadata.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../../domain/iceberg/metadataFile.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import { type CatalogError, catalogError, CatalogRejected } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { foreignStorage, isLocalLocation } from "../iceberg/fileio.ts"

export const makeMetadataFiles = (files: FileIO["Service"], cache: ReturnType<typeof metadataCache>) => {
  /**
   * Reads of a file being parsed already wait for that parse: after each commit every request at
   * the latest state meets the new file, and 16 at once parsed a day of one-second commits' 88 MB
   * 16 times (3 GB of heap, a minute, most timing out). Uninterruptible (a file read and a parse):
   * a client leaving fails none of the others waiting.
   */
  const parsing = new Map<string, Deferred.Deferred<TableMetadata, CatalogError>>()
  const readMetadata = (table: string, location: string): Effect.Effect<TableMetadata, CatalogError> =>
    Effect.suspend(() => {
      const cached = cache.get(location)
      if (cached !== undefined) return Effect.succeed(cached)
      const pending = parsing.get(location)
      if (pending !== undefined) return Deferred.await(pending)
      const parsed = Deferred.makeUnsafe<TableMetadata, CatalogError>()
      parsing.set(location, parsed)
      return parseMetadata(table, location).pipe(
        Effect.onExit((exit) => {
          parsing.delete(location)
          return Deferred.done(parsed, exit)
        }),
        Effect.uninterruptible
      )
    })

  const parseMetadata = Effect.fnUntraced(function*(table: string, location: string) {
    const bytes = yield* files.read(location)
    // Engines with write.metadata.compression-codec=gzip write `*.gz.metadata.json`; Iceberg Java
    // reads either. Told apart by the gzip magic bytes, which JSON text never starts with.
    const json = bytes[0] === 0x1f && bytes[1] === 0x8b
      ? yield* Effect.try({
        try: () => zlib.gunzipSync(bytes),
        catch: (e) => new TableFileError({ reason: new CorruptFile({ path: location, detail: `not gzip: ${(e as Error).message}` }) })
      })
      : bytes
    const decoded = decodeTableMetadata(json, location, table)
    if (Result.isFailure(decoded)) return yield* new TableFileError({ reason: decoded.failure })
    cache.set(table, location, decoded.success)
    return decoded.success
  }, Effect.mapError(catalogError))

  const writeMetadata = Effect.fnUntraced(function*(table: string, metadata: TableMetadata, baseLocation: string | null) {
    const directory = metadataDirectory(metadata)
    // A local path would take `s3://...` for a directory named `s3:`, and register a location no
    // engine can read. Refused as the sink and planner refuse such tables.
    if (!isLocalLocation(directory)) {
      return yield* catalogError(new CatalogRejected({ detail: `${table} uses ${foreignStorage(directory)}` }))
    }
    const location = `${directory}/${nextMetadataFileName(baseLocation, crypto.randomUUID())}`
    // Not cached yet: until the pointer names it, it is nobody's (a lost swap removes it), and caching
    // it would drop the table's current file from the cache.
    yield* files.write(location, encodeTableMetadata(metadata)).pipe(
      Effect.mapError(catalogError)
    )
    return location
  })

  /** Caches a file `writeMetadata` wrote, once the table's pointer names it. */
  const rememberMetadata = (table: string, location: string, metadata: TableMetadata) =>
    Effect.sync(() => cache.set(table, location, metadata))

  return { readMetadata, writeMetadata, rememberMetadata }
}

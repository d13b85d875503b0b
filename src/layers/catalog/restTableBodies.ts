/**
 * The bodies of the REST catalog's table requests (CreateTableRequest, CommitTableRequest) and of
 * its answers with a table (LoadTableResult, CommitTableResponse).
 */
import { Effect, Result } from "effect"
import { MetadataTooLarge, TableFileError } from "../../domain/iceberg/errors.ts"
import type { metadataCache, TableRequirement, TableUpdate } from "../../domain/iceberg/metadata.ts"
import { JsonTooLarge, parseJsonBytes } from "../../domain/iceberg/jsonBytes.ts"
import { checkTableMetadata } from "../../domain/iceberg/metadataFile.ts"
import {
  type CatalogError,
  catalogError,
  type CreateTableRequest,
  type LoadedTable,
  showIdentifier,
  type TableIdentifier
} from "../../services/Catalog.ts"
import { unavailable } from "./restErrors.ts"
import { opening, type Reply } from "./restReply.ts"

/** A CreateTableRequest: at `location` when given (else where the server decides). */
export const createTableBody = (identifier: TableIdentifier, location: string | undefined, request: CreateTableRequest) => ({
  name: identifier.name,
  ...(location === undefined ? {} : { location }),
  schema: request.schema,
  "partition-spec": request.spec,
  ...(request.sortOrder === null ? {} : { "write-order": request.sortOrder }),
  "stage-create": false,
  properties: {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    ...request.properties
  }
})

/** A CommitTableRequest for the table at `levels` (the server's levels of its namespace). */
export const commitTableBody = (
  levels: ReadonlyArray<string>,
  identifier: TableIdentifier,
  requirements: ReadonlyArray<TableRequirement>,
  updates: ReadonlyArray<TableUpdate>
) => ({ identifier: { namespace: levels, name: identifier.name }, requirements, updates })

/** A LoadTableResult / CommitTableResponse: metadata decoded once per location. */
export const loadedTable = (
  cache: ReturnType<typeof metadataCache>,
  identifier: TableIdentifier,
  reply: Reply
): Effect.Effect<LoadedTable, CatalogError> => {
  // Servers put metadata-location first; a cache hit skips decoding megabytes of metadata.
  const head = /"metadata-location"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(opening(reply, 4096))
  let hinted: string | undefined
  try {
    hinted = head === null ? undefined : JSON.parse(`"${head[1]}"`) as string
  } catch {
    // A broken escape: the whole body is not JSON either, and says so below.
  }
  const hit = hinted === undefined ? undefined : cache.get(hinted)
  if (hit !== undefined) return Effect.succeed({ identifier, metadataLocation: hinted!, metadata: hit })
  let raw: { "metadata-location"?: string; metadata?: unknown }
  try {
    raw = parseJsonBytes(reply.bytes) as typeof raw
  } catch (e) {
    return Effect.fail(
      e instanceof JsonTooLarge
        ? catalogError(new TableFileError({
          reason: new MetadataTooLarge({ table: showIdentifier(identifier), path: hinted ?? "(no metadata-location)", bytes: reply.bytes.length, member: e.pointer, memberBytes: e.bytes })
        }))
        : unavailable(`table response is not JSON: ${(e as Error).message}`)
    )
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return Effect.fail(unavailable(`table response is not a JSON object: ${opening(reply, 200)}`))
  }
  const location = raw["metadata-location"] ?? "(no metadata-location)"
  // Checked as parsed: encoding it again to decode it once more doubled the work of every load.
  const decoded = checkTableMetadata(raw.metadata, location, showIdentifier(identifier))
  if (Result.isFailure(decoded)) return Effect.fail(catalogError(new TableFileError({ reason: decoded.failure })))
  if (raw["metadata-location"] !== undefined) cache.set(showIdentifier(identifier), location, decoded.success)
  return Effect.succeed({ identifier, metadataLocation: location, metadata: decoded.success })
}

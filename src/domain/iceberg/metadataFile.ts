/**
 * metadata.json text <-> TableMetadata. Decoding checks the fields K2 relies on
 * and keeps every other field as written (another engine's additions survive our
 * rewrite of the file).
 */
import { Result, Schema } from "effect"
import { CorruptFile } from "./errors.ts"
import { parseJson, stringifyJson } from "./json.ts"
import type { TableMetadata } from "./spec.ts"

const Fields = Schema.Array(Schema.Struct({ id: Schema.Int, name: Schema.String, required: Schema.Boolean }))

const SnapshotShape = Schema.Struct({
  "snapshot-id": Schema.BigInt,
  "parent-snapshot-id": Schema.optionalKey(Schema.BigInt),
  "sequence-number": Schema.BigInt,
  "timestamp-ms": Schema.Int,
  "manifest-list": Schema.String,
  summary: Schema.Record(Schema.String, Schema.String).pipe(Schema.check(
    Schema.makeFilter((s: Record<string, string>) => typeof s.operation === "string" || "summary has no operation")
  ))
})

const MetadataShape = Schema.Struct({
  "format-version": Schema.Literal(2),
  "table-uuid": Schema.String,
  location: Schema.String,
  "last-sequence-number": Schema.BigInt,
  "last-updated-ms": Schema.Int,
  "last-column-id": Schema.Int,
  "current-schema-id": Schema.Int,
  schemas: Schema.Array(Schema.Struct({ "schema-id": Schema.Int, fields: Fields })),
  "default-spec-id": Schema.Int,
  "partition-specs": Schema.Array(Schema.Struct({ "spec-id": Schema.Int, fields: Schema.Array(Schema.Unknown) })),
  "last-partition-id": Schema.Int,
  "default-sort-order-id": Schema.Int,
  "sort-orders": Schema.Array(Schema.Struct({ "order-id": Schema.Int, fields: Schema.Array(Schema.Unknown) })),
  properties: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  "current-snapshot-id": Schema.optionalKey(Schema.NullOr(Schema.BigInt)),
  snapshots: Schema.optionalKey(Schema.Array(SnapshotShape)),
  "snapshot-log": Schema.optionalKey(
    Schema.Array(Schema.Struct({ "snapshot-id": Schema.BigInt, "timestamp-ms": Schema.Int }))
  ),
  "metadata-log": Schema.optionalKey(
    Schema.Array(Schema.Struct({ "metadata-file": Schema.String, "timestamp-ms": Schema.Int }))
  ),
  refs: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.Struct({ "snapshot-id": Schema.BigInt, type: Schema.String }))
  )
})

const check = Schema.decodeUnknownResult(MetadataShape)

/** Parse and check a metadata.json; `path` names the file in the error. */
export const decodeTableMetadata = (text: string, path: string): Result.Result<TableMetadata, CorruptFile> => {
  let raw: unknown
  try {
    raw = parseJson(text)
  } catch (e) {
    return Result.fail(new CorruptFile({ path, detail: `not JSON: ${(e as Error).message}` }))
  }
  const checked = check(raw)
  if (Result.isFailure(checked)) {
    return Result.fail(new CorruptFile({ path, detail: `not Iceberg v2 table metadata: ${checked.failure.message}` }))
  }
  const m = raw as Record<string, unknown>
  // Optional collections default to empty, and a JSON null current snapshot (v1 writers) to absent.
  const { "current-snapshot-id": current, ...rest } = m
  return Result.succeed({
    properties: {},
    snapshots: [],
    "snapshot-log": [],
    "metadata-log": [],
    refs: {},
    ...rest,
    ...(current === null || current === undefined || current === -1n ? {} : { "current-snapshot-id": current })
  } as unknown as TableMetadata)
}

export const encodeTableMetadata = (m: TableMetadata): string => stringifyJson(m, 2)

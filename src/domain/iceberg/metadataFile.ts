/**
 * metadata.json text <-> TableMetadata. Decoding checks the fields K2 relies on
 * and keeps every other field as written (another engine's additions survive our
 * rewrite of the file).
 */
import { Result, Schema } from "effect"
import { CorruptFile, MetadataTooLarge, UnsupportedFormatVersion } from "./errors.ts"
import { stringifyJson } from "./json.ts"
import { JsonTooLarge, parseJsonBytes } from "./jsonBytes.ts"
import type { TableMetadata } from "./spec.ts"

const Fields = Schema.Array(Schema.Struct({ id: Schema.Int, name: Schema.String, required: Schema.Boolean }))

const SnapshotShape = Schema.Struct({
  "snapshot-id": Schema.BigInt,
  "parent-snapshot-id": Schema.optionalKey(Schema.BigInt),
  // Java leaves out a sequence number of 0: the snapshots of a table upgraded from format v1.
  "sequence-number": Schema.optionalKey(Schema.BigInt),
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

/**
 * Parse and check a metadata.json; `path` names the file in the error, `table` the table it is of.
 * Its bytes are parsed without making one string of them (`parseJsonBytes`): a JavaScript string
 * holds ~512 MiB, a table keeping a week of one-second snapshots has more (ADR-77).
 */
export const decodeTableMetadata = (
  source: string | Uint8Array,
  path: string,
  table: string
): Result.Result<TableMetadata, CorruptFile | UnsupportedFormatVersion | MetadataTooLarge> => {
  const bytes = typeof source === "string" ? new TextEncoder().encode(source) : source
  let raw: unknown
  try {
    raw = parseJsonBytes(bytes)
  } catch (e) {
    if (e instanceof JsonTooLarge) {
      return Result.fail(new MetadataTooLarge({ table, path, bytes: bytes.length, member: e.pointer, memberBytes: e.bytes }))
    }
    return Result.fail(new CorruptFile({ path, detail: `not JSON: ${(e as Error).message}` }))
  }
  return checkTableMetadata(raw, path, table)
}

/** Check table metadata already parsed (as `parseJson` gives it): the metadata of a REST catalog's answer. */
export const checkTableMetadata = (
  raw: unknown,
  path: string,
  table: string
): Result.Result<TableMetadata, CorruptFile | UnsupportedFormatVersion> => {
  const formatVersion = (raw as { readonly "format-version"?: unknown } | null)?.["format-version"]
  if (typeof formatVersion === "number" && Number.isInteger(formatVersion) && formatVersion !== 2) {
    return Result.fail(new UnsupportedFormatVersion({ table, path, formatVersion }))
  }
  const checked = check(raw)
  if (Result.isFailure(checked)) {
    return Result.fail(new CorruptFile({ path, detail: `not Iceberg v2 table metadata: ${checked.failure.message}` }))
  }
  const m = raw as Record<string, unknown>
  // Optional collections default to empty, and a JSON null current snapshot (v1 writers) to absent.
  const { "current-snapshot-id": current, snapshots = [], ...rest } = m
  const currentId = current === null || current === undefined || current === -1n ? undefined : current as bigint
  const metadata = {
    properties: {},
    "snapshot-log": [],
    "metadata-log": [],
    // The spec: "There is always a main branch reference pointing to the current-snapshot-id even
    // if the refs map is null" (metadata written before refs existed).
    ...rest,
    // Java accepts refs without main beside a current snapshot, which is then main's.
    refs: currentId === undefined || (rest.refs as Record<string, unknown> | undefined)?.["main"] !== undefined
      ? rest.refs ?? {}
      : { ...(rest.refs as object | undefined), main: { "snapshot-id": currentId, type: "branch" } },
    // Spec "Reading v1 metadata for v2": a snapshot's sequence number defaults to 0.
    snapshots: (snapshots as ReadonlyArray<Record<string, unknown>>).map((s) => ({ "sequence-number": 0n, ...s })),
    ...(currentId === undefined ? {} : { "current-snapshot-id": currentId })
  } as unknown as TableMetadata
  const inconsistent = inconsistency(metadata)
  return inconsistent === null
    ? Result.succeed(metadata)
    : Result.fail(new CorruptFile({ path, detail: `inconsistent table metadata: ${inconsistent}` }))
}

/** What the metadata names but lacks (Java refuses to load such a table too), or null. */
const inconsistency = (m: TableMetadata): string | null => {
  if (!m.schemas.some((s) => s["schema-id"] === m["current-schema-id"])) return `no current schema ${m["current-schema-id"]}`
  if (!m["partition-specs"].some((s) => s["spec-id"] === m["default-spec-id"])) return `no default partition spec ${m["default-spec-id"]}`
  const ids = new Set(m.snapshots.map((s) => s["snapshot-id"]))
  const current = m["current-snapshot-id"]
  if (current !== undefined && !ids.has(current)) return `no current snapshot ${current}`
  for (const [name, ref] of Object.entries(m.refs)) {
    if (!ids.has(ref["snapshot-id"])) return `ref ${name} names no snapshot of the table (snapshot ${ref["snapshot-id"]})`
  }
  if (m.refs["main"]?.["snapshot-id"] !== current) {
    return `branch main is at ${m.refs["main"]?.["snapshot-id"] ?? "nothing"}, the current snapshot is ${current ?? "none"}`
  }
  return null
}

const GROWING: ReadonlySet<string> = new Set(["snapshots", "snapshot-log", "metadata-log"])
const [OPEN, COMMA, CLOSE, OPEN_ARRAY, CLOSE_ARRAY] = ["{", ",", "}", "[", "]"].map((c) => Buffer.from(c))

/**
 * The last bytes written of each growing array, by its first item. Every commit rewrites the
 * snapshots and both logs whole (thousands of entries, at one-second commits kept an hour), and
 * the next commit's array is the last one with entries added: only those are encoded (ADR-34).
 * Expiry drops entries from the front; the array then starts anew, encoded whole once.
 */
const lastWritten = new WeakMap<object, { readonly items: ReadonlyArray<object>; readonly bytes: Buffer }>()

const encodeGrowing = (items: ReadonlyArray<object>): Buffer => {
  const first = items[0]
  if (first === undefined) return Buffer.concat([OPEN_ARRAY!, CLOSE_ARRAY!])
  const last = lastWritten.get(first)
  const extends_ = last !== undefined && last.items.length <= items.length && last.items.every((item, i) => items[i] === item)
  const parts = extends_ ? [last.bytes.subarray(0, last.bytes.length - 1)] : [OPEN_ARRAY!]
  for (let i = extends_ ? last.items.length : 0; i < items.length; i++) {
    if (i > 0) parts.push(COMMA!)
    parts.push(Buffer.from(stringifyJson(items[i])))
  }
  parts.push(CLOSE_ARRAY!)
  const bytes = Buffer.concat(parts)
  lastWritten.set(first, { items, bytes })
  return bytes
}

/**
 * The metadata.json bytes: compact JSON, as JSON.stringify writes it (absent fields left out). A
 * table without a snapshot has current-snapshot-id -1, as Java writes it: the spec makes the field
 * optional, but Iceberg before 1.4 (engines bundling it) refuses metadata without it.
 */
export const encodeTableMetadata = (m: TableMetadata): Uint8Array => {
  const parts: Array<Buffer> = [OPEN!]
  const fields = m["current-snapshot-id"] === undefined ? { ...m, "current-snapshot-id": -1n } : m
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    if (parts.length > 1) parts.push(COMMA!)
    parts.push(Buffer.from(`${JSON.stringify(key)}:`))
    parts.push(GROWING.has(key) ? encodeGrowing(value as ReadonlyArray<object>) : Buffer.from(stringifyJson(value)))
  }
  parts.push(CLOSE!)
  return Buffer.concat(parts)
}

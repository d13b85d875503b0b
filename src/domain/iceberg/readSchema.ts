/**
 * How the data files of a snapshot are read (ADR-2). K2's own tables, and tables another engine
 * only added columns to, are read by column name, as always (DuckDB's fast path). Once a column was
 * renamed, dropped or widened, names no longer find the right values: the files are read by Parquet
 * field id, as Iceberg reads them, with the snapshot's schema.
 *
 * Names: a column is shown under its name in the schema read (Java's rule: the current name applies
 * to every file), except a column of the table's first schema (K2's, which created the table) whose
 * name no other column now bears: it keeps the name K2 gave it, so K2's queries, the SQL views and
 * exports still find `price` after another engine renamed it `trade_price`. K2's appends stay refused
 * after such a rename (`unwritableSchemaChange`); a name another engine gave a different column (a
 * swap, a drop and add) is that column's, in reads as in K2's writes (refused at another type than
 * K2's): files older than it hold none of its field id, so the dropped column's values never show
 * under it. A column of K2's another engine dropped reads as null (K2's answers keep their columns;
 * Java's read no longer has it). Files without field ids in a by-field-id read: `nameReadColumns`.
 */
import { Result } from "effect"
import { DECIMAL_TYPE, type IcebergType, type Schema, type Snapshot, type TableMetadata } from "./spec.ts"

/**
 * Planned files written without Parquet field ids (imported by another engine's `add_files` or
 * `migrate`), which a by-field-id read finds nothing in: read by name instead (`readParquet`).
 * `columns`: for each column of the read schema (by the name reads show), the names those files may
 * hold it under, tried in order; only names some of them hold (none: null).
 */
export interface NameRead {
  readonly paths: ReadonlyArray<string>
  readonly columns: Readonly<Record<string, ReadonlyArray<string>>>
}

/** The table property of the Iceberg spec's name mapping ("Column Projection"). */
export const NAME_MAPPING = "schema.name-mapping.default"

/**
 * How files without field ids are read as `read` (`readSchemaOf` of the snapshot's `schema`), the
 * Iceberg spec's way: a column's field id maps to the names the table's name mapping lists for it
 * (its aliases, as every rename Java makes adds the new one); without a mapping, to the column's
 * name in the snapshot's schema (Java would assign ids by position instead: a file imported without
 * a mapping has no ids to trust, and its names are what the importer saw). K2's column another
 * engine dropped stays null. The mapping is parsed once; the columns then follow from the names
 * files hold (`held`; DuckDB matches them ignoring case). Fails on a mapping that is not the spec's JSON.
 */
export const nameReadColumns = (
  schema: Schema,
  read: Schema,
  mapping: string | undefined
): Result.Result<(held: ReadonlyArray<string>) => NameRead["columns"], string> => {
  const aliases = new Map<number, ReadonlyArray<string>>()
  if (mapping === undefined) {
    for (const f of schema.fields) aliases.set(f.id, [f.name])
  } else {
    let entries: unknown
    try {
      entries = JSON.parse(mapping)
    } catch (e) {
      return Result.fail(`${NAME_MAPPING} is not JSON (${String(e)})`)
    }
    if (!Array.isArray(entries)) return Result.fail(`${NAME_MAPPING} is not a list of fields`)
    for (const e of entries as ReadonlyArray<{ "field-id"?: unknown; names?: unknown }>) {
      const names = e?.names
      if (!Array.isArray(names) || names.some((n) => typeof n !== "string")) return Result.fail(`${NAME_MAPPING} has a field without names`)
      if (typeof e["field-id"] === "number") aliases.set(e["field-id"], names as ReadonlyArray<string>)
    }
  }
  return Result.succeed((held) => {
    const present = new Set(held.map((n) => n.toLowerCase()))
    return Object.fromEntries(read.fields.map((f) => [
      f.name,
      f.id < 0 ? [] : (aliases.get(f.id) ?? []).filter((n) => present.has(n.toLowerCase()))
    ]))
  })
}

export interface ReadSchema {
  /** The snapshot's schema, its columns under the names reads show (see above). */
  readonly schema: Schema
  /** Whether the files must be read by field id; false: by name (no column renamed, dropped or retyped). */
  readonly byFieldId: boolean
}

/** A type as files hold it: required flags and docs do not change how a column is read. */
export const typeShape = (type: unknown): string =>
  JSON.stringify(type, (k, v) => (k === "required" || k === "doc" || k.endsWith("-required") ? undefined : v))
    .replace(/\s+/g, "")

const showType = (type: IcebergType) => (typeof type === "string" ? type : typeShape(type))

/** Iceberg v2's type promotions, each of which a field-id read casts exactly. */
const promotes = (from: IcebergType, to: IcebergType): boolean => {
  if (from === "int" && to === "long") return true
  if (from === "float" && to === "double") return true
  const a = typeof from === "string" ? DECIMAL_TYPE.exec(from) : null
  const b = typeof to === "string" ? DECIMAL_TYPE.exec(to) : null
  return a !== null && b !== null && a[2] === b[2] && Number(b[1]) >= Number(a[1])
}

/**
 * Why files written under `olderSchemas` would be misread by name as `schema`: a column dropped,
 * retyped, renamed, or its name given to another column. Null when columns were only added.
 */
const nameReadHazard = (olderSchemas: ReadonlyArray<Schema>, schema: Schema): string | null => {
  const byId = new Map(schema.fields.map((f) => [f.id, f]))
  const byName = new Map(schema.fields.map((f) => [f.name, f]))
  for (const older of olderSchemas) {
    for (const f of older.fields) {
      const now = byId.get(f.id)
      if (now === undefined) return `column ${f.name} (id ${f.id}) was dropped`
      if (typeShape(now.type) !== typeShape(f.type)) return `column ${f.name} (id ${f.id}) changed type`
      if (now.name !== f.name) return `column ${f.name} (id ${f.id}) was renamed to ${now.name}`
      const sameName = byName.get(f.name)
      if (sameName !== undefined && sameName.id !== f.id) return `column ${f.name} is id ${sameName.id}, was id ${f.id}`
    }
  }
  return null
}

/**
 * Whether schemas were removed from the table (Java's `cleanExpiredMetadata` drops those no
 * retained snapshot names): every engine numbers schemas from 0, each one above the highest, so an
 * id missing below the highest was removed, and files written under it (their snapshots expired,
 * the files still live) may hold names no listed schema shows.
 */
export const schemasRemoved = (schemas: ReadonlyArray<Pick<Schema, "schema-id">>): boolean => {
  const ids = new Set(schemas.map((s) => s["schema-id"]))
  return [...ids].some((id) => !Number.isSafeInteger(id) || id < 0) || ids.size !== Math.max(-1, ...ids) + 1
}

/**
 * Each schema id the snapshots name, with the lowest sequence number naming it: learned once per
 * snapshot list (metadata is never changed in place). Every plan asks, and a pass over every
 * snapshot was 3 ms of each read of a table keeping a day of one-second commits.
 */
const firstWrittenBy = new WeakMap<ReadonlyArray<Snapshot>, ReadonlyMap<number, bigint>>()
const firstWritten = (snapshots: ReadonlyArray<Snapshot>): ReadonlyMap<number, bigint> => {
  let first = firstWrittenBy.get(snapshots)
  if (first === undefined) {
    const built = new Map<number, bigint>()
    for (const s of snapshots) {
      const id = s["schema-id"]
      if (id === undefined) continue
      const seen = built.get(id)
      if (seen === undefined || s["sequence-number"] < seen) built.set(id, s["sequence-number"])
    }
    firstWrittenBy.set(snapshots, first = built)
  }
  return first
}

/**
 * The ids of schemas listed after `schemaId` that files of `snapshot` (null: the table's state now)
 * read under `schemaId` may have been written with. Iceberg Java makes an earlier schema current
 * again when a change leaves one identical to it (a column renamed and renamed back: its builder
 * reuses the schema id), so files written in between hold names the listed order puts later: the
 * schemas of snapshots up to this one, and every schema listed after the current one while it is
 * read (the snapshots of those may have expired, their files still live).
 */
export const writtenSchemaIds = (
  m: Pick<TableMetadata, "schemas" | "current-schema-id" | "snapshots">,
  snapshot: Snapshot | null | undefined,
  schemaId: number
): ReadonlyArray<number> => {
  const ids = new Set<number>()
  for (const [id, first] of firstWritten(m.snapshots)) {
    if (snapshot == null || first <= snapshot["sequence-number"]) ids.add(id)
  }
  if (schemaId === m["current-schema-id"]) {
    const at = m.schemas.findIndex((s) => s["schema-id"] === schemaId)
    for (const s of m.schemas.slice(at + 1)) ids.add(s["schema-id"])
  }
  ids.delete(schemaId)
  return [...ids]
}

/**
 * How to read the files of a snapshot whose schema is `schema`, one of the table's `schemas` (in
 * the metadata's order, the first K2's), written under the schemas listed before it and those of
 * `writtenUnder` (`writtenSchemaIds`). Fails, saying why, on a change a field-id read would still
 * misread: a type changed other than by Iceberg's promotions (int→long, float→double, a decimal's
 * precision), a nested type changed, or two of K2's names left on one column.
 */
export const readSchemaOf = (
  schemas: ReadonlyArray<Schema>,
  schema: Schema,
  writtenUnder: ReadonlyArray<number> = []
): Result.Result<ReadSchema, string> => {
  const upTo = schemas.findIndex((s) => s["schema-id"] === schema["schema-id"])
  const older = upTo < 0
    ? schemas
    : schemas.filter((s, i) => i < upTo || (i > upTo && writtenUnder.includes(s["schema-id"])))
  if (nameReadHazard(older, schema) === null && !schemasRemoved(schemas)) return Result.succeed({ schema, byFieldId: false })
  const byId = new Map(schema.fields.map((f) => [f.id, f]))
  for (const s of older) {
    for (const f of s.fields) {
      const now = byId.get(f.id)
      if (now === undefined || typeShape(now.type) === typeShape(f.type) || promotes(f.type, now.type)) continue
      return Result.fail(`column ${now.name} (id ${f.id}) changed type from ${showType(f.type)} to ${showType(now.type)}`)
    }
  }
  // K2's names a rename took away: found by the field id that last bore them, up to this schema.
  const names = new Map<number, string>()
  const taken = new Set(schema.fields.map((f) => f.name))
  const own = new Set((schemas[0]?.fields ?? []).map((f) => f.name))
  for (const k of schemas[0]?.fields ?? []) {
    if (taken.has(k.name)) continue
    const bore = [...older].reverse().map((s) => s.fields.find((f) => f.name === k.name)).find((f) => f !== undefined)
    if (bore === undefined || !byId.has(bore.id)) continue
    const now = byId.get(bore.id)!.name
    if (own.has(now)) return Result.fail(`column ${k.name} (id ${bore.id}) was renamed to ${now}, the name of another of K2's columns`)
    const other = names.get(bore.id)
    if (other !== undefined) {
      return Result.fail(`column ${now} (id ${bore.id}) once bore two of K2's names, ${other} and ${k.name}`)
    }
    names.set(bore.id, k.name)
  }
  const fields = schema.fields.map((f) => ({ ...f, name: names.get(f.id) ?? f.name }))
  const shown = new Set(fields.map((f) => f.name))
  // K2's columns another engine dropped stay, all null: under a negative id, which no file holds.
  const dropped = (schemas[0]?.fields ?? []).filter((k) => !shown.has(k.name)).map((k) => ({ ...k, id: -k.id, required: false }))
  return Result.succeed({ schema: { ...schema, fields: [...fields, ...dropped] }, byFieldId: true })
}

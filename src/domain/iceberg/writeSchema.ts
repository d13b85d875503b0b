/** The schema K2 writes with, and why a table's schema changes stop K2 appending to it. */
import { schemasRemoved, typeShape } from "./readSchema.ts"
import type { Schema, TableMetadata } from "./spec.ts"

/** The schema new data is written with. */
export const currentSchema = (m: TableMetadata): Schema =>
  m.schemas.find((s) => s["schema-id"] === m["current-schema-id"])!

/**
 * Why K2 cannot append `columns` (by name) to the table: its writer fills the current schema's
 * columns by name, so the values of a column since renamed would be written as null (Java reads
 * none of them), and those of a column since retyped, or dropped and added again under its name at
 * another type, are not of its type. Null otherwise: a dropped column is not written, an added one
 * is written as null, and a name now given to another column of the same type is that column's
 * (written under its field id, as any engine writing by name does; older files' values of the
 * dropped column are not its: reads go by field id).
 */
export const unwritableSchemaChange = (m: TableMetadata, columns: Iterable<string>): string | null => {
  const schema = currentSchema(m)
  const byName = new Map(schema.fields.map((f) => [f.name, f]))
  const byId = new Map(schema.fields.map((f) => [f.id, f]))
  for (const name of columns) {
    const now = byName.get(name)
    // K2's values are of the type the column had when the name first appeared (K2's), not that of
    // another engine's column that bore the name in between.
    const first = m.schemas.map((s) => s.fields.find((f) => f.name === name)).find((f) => f !== undefined)
    if (now !== undefined && first !== undefined && now.id !== first.id && typeShape(now.type) !== typeShape(first.type)) {
      const type = typeof now.type === "string" ? now.type : typeShape(now.type)
      return `column ${name} (id ${first.id}) was dropped and added again as id ${now.id} of type ${type}`
    }
    for (const older of m.schemas) {
      const was = older.fields.find((f) => f.name === name)
      if (was === undefined) continue
      const renamed = now === undefined ? byId.get(was.id) : undefined
      if (renamed !== undefined) return `column ${name} (id ${was.id}) was renamed to ${renamed.name}`
      if (now?.id === was.id && typeShape(now.type) !== typeShape(was.type)) return `column ${name} (id ${was.id}) changed type`
    }
    // The schema that named it was removed (Java's cleanExpiredMetadata): renamed, its values would
    // be written as null; dropped, they would not be written. Nothing left tells which.
    if (first === undefined && schemasRemoved(m.schemas)) {
      return `column ${name} is in none of the table's schemas, and another engine removed older schemas: renamed or dropped, K2 cannot tell`
    }
  }
  return null
}

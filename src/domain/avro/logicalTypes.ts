/** Logical types a writer schema must share with ours, field by field (avscTypes.ts strips them before avsc sees them). */

/** The Avro spec's logical types (1.12) and the types each annotates. */
const SPEC_LOGICAL_TYPES = new Map<unknown, ReadonlyArray<unknown>>([
  ["decimal", ["bytes", "fixed"]],
  ["big-decimal", ["bytes"]],
  ["uuid", ["string", "fixed"]],
  ["date", ["int"]],
  ["time-millis", ["int"]],
  ["time-micros", ["long"]],
  ["timestamp-millis", ["long"]],
  ["timestamp-micros", ["long"]],
  ["timestamp-nanos", ["long"]],
  ["local-timestamp-millis", ["long"]],
  ["local-timestamp-micros", ["long"]],
  ["local-timestamp-nanos", ["long"]],
  ["duration", ["fixed"]]
])

/**
 * Whether an annotation is one of the spec's, valid on its type. The spec has readers ignore any
 * other and read the underlying type: a "decimal" string is text, and resolving it to our bytes
 * read the text's UTF-8 as a price.
 */
const validLogicalType = (o: Record<string, unknown>): boolean => {
  if (SPEC_LOGICAL_TYPES.get(o.logicalType)?.includes(o.type) !== true) return false
  const scale = o.scale ?? 0
  return o.logicalType !== "decimal" || Number.isSafeInteger(o.precision) && (o.precision as number) > 0 &&
    Number.isSafeInteger(scale) && (scale as number) >= 0 && (scale as number) <= (o.precision as number)
}

/** A type's valid logical annotations, in order (a decimal's precision is left out: values are range-checked). */
const logicalTypesIn = (schema: unknown, out: Array<string> = []): Array<string> => {
  if (Array.isArray(schema)) for (const s of schema) logicalTypesIn(s, out)
  else if (schema !== null && typeof schema === "object") {
    const o = schema as Record<string, unknown>
    // A uuid string is its text, as our plain strings read it: no other meaning to agree on
    // (refused, a producer annotating message_id as a uuid had every record dead-lettered).
    const text = o.logicalType === "uuid" && o.type === "string"
    if (typeof o.logicalType === "string" && validLogicalType(o) && !text) {
      out.push(o.logicalType === "decimal" ? `decimal scale ${String(o.scale ?? 0)}` : o.logicalType)
    }
    for (const k of ["type", "items", "values", "fields"]) logicalTypesIn(o[k], out)
  }
  return out
}

/** The full name of a record schema (a top-level one, so without an enclosing namespace). */
const fullNameOf = (schema: unknown): string | undefined => {
  const o = schema as { readonly name?: unknown; readonly namespace?: unknown } | null
  if (o === null || typeof o !== "object" || typeof o.name !== "string") return undefined
  return o.name.includes(".") || typeof o.namespace !== "string" || o.namespace === "" ? o.name : `${o.namespace}.${o.name}`
}

/**
 * Stripped of logical types, a decimal of another scale or a timestamp-millis would resolve to
 * ours and be read as another value: each writer field must carry its reader field's. A writer
 * that is a union is read through its branch named as ours (the spec's rule for a union writer).
 */
export const checkLogicalTypes = (
  writer: object,
  reader: { readonly name: string; readonly namespace: string; readonly fields: ReadonlyArray<{ readonly name: string; readonly type: unknown }> }
) => {
  // Resolution matches records by their unqualified name (unionResolver.ts), so must this.
  const records = Array.isArray(writer)
    ? writer.filter((b) => {
      const name = fullNameOf(b)
      return name !== undefined && name.slice(name.lastIndexOf(".") + 1) === reader.name
    })
    : [writer]
  for (const record of records) {
    const fields: unknown = (record as { fields?: unknown }).fields
    if (!Array.isArray(fields)) continue
    for (const r of reader.fields) {
      const w = fields.find((f) => (f as { name?: unknown } | null)?.name === r.name) as { type: unknown } | undefined
      if (w === undefined) continue
      const read = logicalTypesIn(r.type).join(", ") || "no logical type"
      // Branch by branch: a union's annotations taken together let ["string", decimal] pass as a
      // decimal, and the string branch's text was read as the unscaled price.
      for (const branch of Array.isArray(w.type) ? w.type.filter((b) => b !== "null" && (b as { type?: unknown } | null)?.type !== "null") : [w.type]) {
        const written = logicalTypesIn(branch).join(", ") || "no logical type"
        if (read !== written) throw new Error(`field ${r.name} is written as ${written}, read as ${read}`)
      }
    }
  }
}

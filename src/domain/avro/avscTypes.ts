/** avsc types for the wire schemas: logical types stripped, bigint longs, maps that keep "__proto__", strings checked for UTF-8. */
import { isUtf8 } from "node:buffer"
import avro from "avsc"
import { setEntry } from "../wire.ts"
import { BigIntLong } from "./bigintLong.ts"
import { Malformed } from "./reader.ts"

const PRIMITIVES: ReadonlySet<unknown> = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])

/**
 * Logical types annotate, they do not change the binary encoding: avsc reads them as their
 * underlying type (decimal -> bytes, timestamp-micros -> long). Replacing `{type: "long", ...}`
 * by `"long"` also routes those longs through the bigint long of the registry. Only a primitive
 * collapses so (a field, with its name, does not): an annotated array, map or fixed keeps its
 * definition, and avsc ignores the annotation.
 */
const stripLogicalTypes = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(stripLogicalTypes)
  if (schema === null || typeof schema !== "object") return schema
  const o = schema as Record<string, unknown>
  if (PRIMITIVES.has(o.type) && !("name" in o)) return o.type
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) setEntry(out, k, k === "default" ? v : stripLogicalTypes(v))
  return out
}

/** What a map's `_read` uses of avsc's Tap (undeclared in its types). */
interface Tap {
  readLong(): number
  skipLong(): void
  readString(): string
}

/** avsc reads a map by assignment into `{}`, which drops a "__proto__" key: this map type keeps it. */
class FaithfulMapType extends avro.types.MapType {
  // Also a resolver's: avsc copies it onto the resolver, whose valuesType then reads the writer's.
  _read(tap: Tap): Record<string, unknown> {
    const values = this.valuesType as { _read(tap: Tap): unknown }
    const out: Record<string, unknown> = {}
    for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
      // A negative count is followed by the block's size in bytes.
      if (n < 0) {
        n = -n
        tap.skipLong()
      }
      for (let i = 0; i < n; i++) {
        const key = tap.readString()
        setEntry(out, key, values._read(tap))
      }
    }
    return out
  }
}

/** What a string's `_read` uses of avsc's Tap besides the map's. */
interface StringTap extends Tap {
  pos: number
  readonly buf: Buffer
}

/**
 * avsc reads bytes that are not UTF-8 as U+FFFD, so two ids read alike: this string type throws
 * Malformed instead. scanWriter checks the writer's strings, but only this sees a writer's bytes
 * read as our string (the spec's bytes-to-string promotion). Also a resolver's (copied onto it).
 */
class Utf8StringType extends avro.types.StringType {
  _read(tap: StringTap): string | undefined {
    const start = tap.pos
    const n = tap.readLong()
    const from = tap.pos
    tap.pos = start
    const s = tap.readString()
    if (s?.includes("\uFFFD") === true && !isUtf8(tap.buf.subarray(from, from + n))) throw new Malformed("a string is not UTF-8")
    return s
  }
}

const typeHook = (schema: avro.Schema, opts: avro.ForSchemaOptions): avro.Type | undefined => {
  if (schema === "string" || (typeof schema === "object" && (schema as { type?: unknown }).type === "string")) return new Utf8StringType()
  return typeof schema === "object" && (schema as { type?: unknown }).type === "map" ? new FaithfulMapType(schema, opts) : undefined
}

/** A fresh registry per type: avsc records every named type in it. */
export const avroTypeOf = (schema: object): avro.Type =>
  avro.Type.forSchema(stripLogicalTypes(schema) as avro.Schema, { registry: { long: BigIntLong }, typeHook })

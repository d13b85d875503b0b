/** A bounded walk of a value written with another writer schema, before avsc reads it. */
import type avro from "avsc"
import { type AvroReader, Malformed } from "./reader.ts"

/**
 * Walks a value of `type` with bounds, throwing Truncated or Malformed. avsc does not stop at the
 * end of its input: a block count of 10^8 in a 20-byte poison record kept it reading (or skipping
 * a field ours lacks) for a minute on the ingest thread, and larger counts for ever.
 */
export const scanWriter = (r: AvroReader, type: avro.Type): void => {
  const t = type as avro.Type & {
    readonly fields?: ReadonlyArray<{ readonly type: avro.Type }>
    readonly itemsType?: avro.Type
    readonly valuesType?: avro.Type
    readonly types?: ReadonlyArray<avro.Type>
    readonly size?: number
  }
  switch (t.typeName) {
    case "null":
      return
    case "boolean":
      return r.skipFixed(1)
    case "int": {
      // avsc reads an int's varint as far as it goes: 2^40 written as an int came out a long.
      const n = r.longOrNaN()
      if (!(n >= -0x80000000 && n <= 0x7fffffff)) throw new Malformed(`int beyond 32 bits${Number.isNaN(n) ? "" : `: ${n}`}`)
      return
    }
    case "long":
    case "abstract:long":
    case "enum":
      return void r.bigLong()
    case "float":
      return r.skipFixed(4)
    case "double":
      return r.skipFixed(8)
    case "string":
      return r.skipString()
    case "bytes":
      return r.skipBytes()
    case "fixed":
      return r.skipFixed(t.size!)
    case "array":
      for (let n = r.blockItems(); n !== 0; n = r.blockItems()) {
        // Taken before the items: a nested block sets blockBytes again.
        const bytes = r.blockBytes
        const start = r.offset
        for (let i = 0; i < n; i++) scanWriter(r, t.itemsType!)
        r.blockEnd(bytes, start)
      }
      return
    case "map":
      for (let n = r.blockItems(); n !== 0; n = r.blockItems()) {
        const bytes = r.blockBytes
        const start = r.offset
        for (let i = 0; i < n; i++) {
          r.skipString()
          scanWriter(r, t.valuesType!)
        }
        r.blockEnd(bytes, start)
      }
      return
    case "record":
    case "error":
      for (const f of t.fields!) scanWriter(r, f.type)
      return
    default:
      if (t.types !== undefined) return scanWriter(r, t.types[r.branch(t.types.length)]!)
      throw new Malformed(`cannot scan Avro type ${t.typeName}`)
  }
}

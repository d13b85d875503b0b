/**
 * The Avro record (`r102`) of a manifest's partition values under a spec: each field's Avro type
 * from its result type, and its name made a valid Avro name.
 */
import { Result } from "effect"
import { partitionResultType } from "../../domain/iceberg/partitioning.ts"
import { DECIMAL_TYPE, type PartitionField, type PartitionSpec, type Schema } from "../../domain/iceberg/spec.ts"
import type { AvroRecord, AvroSchema } from "./avroContainer.ts"
import { optional } from "./manifestAvroSchemas.ts"

/**
 * Avro types of partition values (spec Appendix A) as Java writes them (TypeToSchema); void fields
 * carry their column's type, any of these.
 */
const AVRO_TYPES: Readonly<Record<string, AvroSchema>> = {
  boolean: "boolean",
  int: "int",
  long: "long",
  float: "float",
  double: "double",
  date: { type: "int", logicalType: "date" },
  time: { type: "long", logicalType: "time-micros" },
  string: "string",
  uuid: { type: "fixed", name: "uuid_fixed", size: 16, logicalType: "uuid" },
  binary: "bytes",
  timestamp: { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": false },
  timestamptz: { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true }
}
const FIXED_TYPE = /^fixed\[(\d+)\]$/

/** Bytes of the shortest two's complement holding every unscaled value of `precision` digits (Java's decimalRequiredBytes). */
const decimalBytes = (precision: number): number => {
  let n = 1
  while (2n ** BigInt(8 * n - 1) <= 10n ** BigInt(precision)) n++
  return n
}

/** The Avro type of an Iceberg primitive type's values: any the write check of partitioning.ts lets through. */
const avroTypeOfResult = (type: string): AvroSchema => {
  const decimal = DECIMAL_TYPE.exec(type)
  if (decimal !== null) {
    const [precision, scale] = [Number(decimal[1]), Number(decimal[2])]
    return { type: "fixed", name: `decimal_${precision}_${scale}`, size: decimalBytes(precision), logicalType: "decimal", precision, scale }
  }
  const fixed = FIXED_TYPE.exec(type)
  return fixed !== null ? { type: "fixed", name: `fixed_${fixed[1]}`, size: Number(fixed[1]) } : AVRO_TYPES[type]!
}

/**
 * Avro type of a partition value: its result type's (Java 1.10 gives `day` the `date` type). Callers
 * check a spec with `unheldPartitionValues` before they write a manifest of it.
 */
const partitionValueType = (partitionField: PartitionField, schema: Schema): AvroSchema => {
  const type = partitionResultType(partitionField, schema)
  if (Result.isFailure(type)) throw new Error(type.failure)
  return avroTypeOfResult(type.success)
}

export const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * A partition field's name in Avro: another engine may name a field anything (`ts-hour`), which
 * is no Avro name. Java's AvroSchemaUtil.sanitize (a digit becomes `_<digit>`, anything else
 * `_x<HEX>`), on ASCII letters only: avsc refuses the other letters Java keeps. The Iceberg name
 * goes in "iceberg-field-name", as Java puts it; readers match partition fields by id.
 */
export const avroName = (name: string): string => {
  if (AVRO_NAME.test(name)) return name
  let out = ""
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!
    out += /[A-Za-z_]/.test(c) || (i > 0 && /[0-9]/.test(c)) ? c : /[0-9]/.test(c) ? `_${c}` : `_x${c.charCodeAt(0).toString(16).toUpperCase()}`
  }
  return out
}

const partitionField = (id: number, name: string, type: AvroSchema) =>
  avroName(name) === name ? optional(id, name, type) : { ...optional(id, avroName(name), type), "iceberg-field-name": name }

export const partitionSchema = (spec: PartitionSpec, schema: Schema): AvroRecord => {
  // Avro defines a named type (a fixed) once; Java refers to it by name after.
  const named = new Set<string>()
  const once = (type: AvroSchema): AvroSchema => {
    const name = (type as { readonly name?: unknown }).name
    if (typeof name !== "string") return type
    if (named.has(name)) return name
    named.add(name)
    return type
  }
  return {
    type: "record",
    name: "r102",
    fields: spec.fields.map((f) => partitionField(f["field-id"], f.name, once(partitionValueType(f, schema))))
  }
}

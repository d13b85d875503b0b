/** Why a Kafka value is poison: what goes into the DLQ's k2-dlq-reason header is the _tag. */
import { Schema } from "effect"
import { FieldProblem } from "../errors.ts"

/** Too short, or the first byte is not the Confluent magic byte 0. */
export class NotFramed extends Schema.TaggedError<NotFramed>()("NotFramed", {
  detail: Schema.String
}) {
  override get message() {
    return `not a Confluent-framed Avro value: ${this.detail}`
  }
}

/** Framed, known schema, but the Avro body does not decode (truncated, trailing or garbage bytes). */
export class Undecodable extends Schema.TaggedError<Undecodable>()("Undecodable", {
  schemaId: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `undecodable Avro body (schema id ${this.schemaId}): ${this.detail}`
  }
}

/** The schema id is not one this codec knows (resolve it with the registry, then addWriterSchema). */
export class UnknownSchemaId extends Schema.TaggedError<UnknownSchemaId>()("UnknownSchemaId", {
  schemaId: Schema.Number
}) {
  override get message() {
    return `unknown schema id ${this.schemaId}`
  }
}

/** Decodes, but breaks the domain rules (non-positive price, bad symbol, timestamp out of range ...). */
export class SchemaInvalid extends Schema.TaggedError<SchemaInvalid>()("SchemaInvalid", {
  kind: Schema.Literals(["trade", "quote", "instrument"]),
  schemaId: Schema.Number,
  problems: Schema.Array(FieldProblem)
}) {
  override get message() {
    return `invalid ${this.kind}: ${this.problems.map((p) => `${p.field}: ${p.problem}`).join("; ")}`
  }
}

export type PoisonReason = NotFramed | Undecodable | UnknownSchemaId | SchemaInvalid

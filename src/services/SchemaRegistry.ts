/**
 * Schema ids for the Confluent framing. Two layers (src/layers/kafka/schemaRegistry.ts):
 * - `layerHttp(url)`: a Confluent-compatible registry (Confluent Schema Registry, Apicurio's
 *   ccompat API, Redpanda, Karapace); subjects follow TopicNameStrategy `<topic>-value`.
 * - `layerEmbedded`: no server; ids are fixed from the repo's schema files: trade = 1, quote = 2,
 *   instrument = 3 (src/domain/avro/schemas.ts EMBEDDED_SCHEMA_IDS). A subject's kind comes from
 *   its topic name (`market.*.trades.*` -> trade, `market.*.quotes.*` -> quote,
 *   `reference.instruments.*` -> instrument).
 */
import { Context, type Effect, Schema } from "effect"

/** Network failure, timeout, 5xx, or an answer not the registry's (a redirect, a bare 404): retry with backoff. */
export class RegistryUnavailable extends Schema.TaggedError<RegistryUnavailable>()("RegistryUnavailable", {
  detail: Schema.String
}) {
  readonly retryable = true
  override get message() {
    return `schema registry unavailable: ${this.detail}`
  }
}

/** Subject, version or schema id not found (Confluent error codes 40401, 40402, 40403). */
export class SchemaNotFound extends Schema.TaggedError<SchemaNotFound>()("SchemaNotFound", {
  what: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `not found in the schema registry: ${this.what}`
  }
}

/** The schema breaks the subject's compatibility rule (HTTP 409). */
export class IncompatibleSchema extends Schema.TaggedError<IncompatibleSchema>()("IncompatibleSchema", {
  subject: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `schema incompatible with subject ${this.subject}: ${this.detail}`
  }
}

/** Invalid schema (422) or any other refusal. */
export class RegistryRejected extends Schema.TaggedError<RegistryRejected>()("RegistryRejected", {
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `schema registry rejected the request: ${this.detail}`
  }
}

export class SchemaRegistryError extends Schema.TaggedError<SchemaRegistryError>()("SchemaRegistryError", {
  reason: Schema.Union([RegistryUnavailable, SchemaNotFound, IncompatibleSchema, RegistryRejected])
}) {
  get retryable(): boolean {
    return this.reason.retryable
  }
  override get message() {
    return this.reason.message
  }
}

export const registryError = (reason: SchemaRegistryError["reason"]) => new SchemaRegistryError({ reason })

export interface RegisteredSchema {
  readonly subject: string
  readonly id: number
  readonly version: number
  /** The Avro schema (parsed JSON). */
  readonly schema: object
}

export class SchemaRegistry extends Context.Service<SchemaRegistry, {
  readonly kind: "http" | "embedded"
  /** Register (or find, when already registered) `schema` under `subject`; returns its global id. */
  register(subject: string, schema: object): Effect.Effect<number, SchemaRegistryError>
  /** The registration of exactly this schema under `subject` (SchemaNotFound when absent). */
  lookup(subject: string, schema: object): Effect.Effect<RegisteredSchema, SchemaRegistryError>
  /** The schema with this global id. */
  schemaById(id: number): Effect.Effect<object, SchemaRegistryError>
  /** The subject's latest version. */
  latest(subject: string): Effect.Effect<RegisteredSchema, SchemaRegistryError>
}>()("k2/services/SchemaRegistry") {}

/**
 * Writer schemas met while ingesting. A record framed with a schema id the codec does not know
 * (a producer on an older or newer version of a schema) decodes once that id's schema, fetched
 * from the registry, has been taught to the codec, resolved to our reader schema.
 *
 * Each id is fetched once: a schema learned stays in the codec, and an id that cannot be used
 * (the registry has none, not one of our records nor a union holding one, or not resolvable to
 * ours) is remembered with why, so its records go to the DLQ as UnknownSchemaId with that reason
 * without asking again. A registry that cannot be reached is waited out (capped, jittered
 * backoff, about 16 s), then `learn` fails, retryable: nothing is dead-lettered for it.
 */
import { Effect, Semaphore } from "effect"
import type { WireCodec } from "../../domain/avro/codec.ts"
import { framedSchemaId } from "../../domain/avro/framing.ts"
import type { MessageKind } from "../../domain/avro/schemas.ts"
import type { KafkaRecord } from "../../services/KafkaSource.ts"
import type { SchemaRegistryError } from "../../services/SchemaRegistry.ts"
import { retrySchedule } from "./transientFaults.ts"

/** The registry's by-id lookup (SchemaRegistry `schemaById`). */
export type ResolveSchema = (schemaId: number) => Effect.Effect<object, SchemaRegistryError>

/** How a reader decodes the wire: the codec of its schema ids, and the registry's lookup when there is one. */
export interface WireSchemas {
  readonly codec: WireCodec
  readonly resolveSchema?: ResolveSchema
}

/** Refused ids remembered; past this the oldest are forgotten (asked again if met again). */
const MAX_REFUSED = 10_000

/**
 * Records resolve only to a record of the same name, so the name says the kind: the unqualified
 * name, as the spec matches records (a producer's com.acme.Trade was refused, every record dead-lettered).
 */
const KIND_OF_RECORD: Readonly<Record<string, MessageKind>> = { Trade: "trade", Quote: "quote", Instrument: "instrument" }

const fullNameOf = (schema: object): string | undefined => {
  // Any lookup's answer: null would make the destructuring below a defect.
  if (schema === null || typeof schema !== "object") return undefined
  const { name, namespace } = schema as { name?: unknown; namespace?: unknown }
  if (typeof name !== "string") return undefined
  return name.includes(".") || typeof namespace !== "string" || namespace === "" ? name : `${namespace}.${name}`
}

/**
 * The kind a registry's schema is read as, with the full name of its record, or why it cannot be.
 * A union (a nullable value's ["null", Trade], as Confluent producers of one register it) is read
 * as the one record of ours among its branches: the Avro spec resolves a writer union against a
 * reader record by the branch each value was written in, so its records read and a value in
 * another branch (a null) is Undecodable alone (unionResolver.ts). One schema id reads as one kind.
 */
const kindOf = (schema: object): { readonly kind: MessageKind; readonly name: string } | string => {
  const union = Array.isArray(schema)
  const ours: Array<{ readonly kind: MessageKind; readonly name: string }> = []
  for (const branch of union ? schema as ReadonlyArray<object> : [schema]) {
    const name = fullNameOf(branch)
    const kind = name === undefined ? undefined : KIND_OF_RECORD[name.slice(name.lastIndexOf(".") + 1)]
    if (kind !== undefined) ours.push({ kind, name: name! })
  }
  if (ours.length === 1) return ours[0]!
  if (!union) return `the registry's schema is ${fullNameOf(schema) ?? "not a named record"}, not a Trade, Quote or Instrument`
  return ours.length === 0
    ? "the registry's schema is a union holding no Trade, Quote or Instrument record"
    : `the registry's schema is a union holding ${ours.map((o) => o.name).join(" and ")}: a schema id reads as one kind`
}

export const make = (codec: WireCodec, resolveSchema: ResolveSchema) => {
  const refused = new Map<number, string>()
  // One lookup at a time: partitions meeting the same new id wait for the first to learn it.
  const lock = Semaphore.makeUnsafe(1)

  const refuse = (id: number, why: string) =>
    Effect.sync(() => {
      if (refused.size >= MAX_REFUSED) refused.delete(refused.keys().next().value!)
      refused.set(id, why)
    })

  const learnOne = Effect.fnUntraced(function*(id: number) {
    if (codec.knows(id) || refused.has(id)) return
    const found = yield* Effect.catchIf(
      resolveSchema(id),
      (e) => !e.retryable,
      (e) => Effect.as(refuse(id, e.message), undefined)
    )
    if (found === undefined) return
    const ours = kindOf(found)
    if (typeof ours === "string") return yield* refuse(id, ours)
    const { kind } = ours
    const name = Array.isArray(found) ? `union holding ${ours.name}` : ours.name
    try {
      codec.addWriterSchema(id, kind, found)
      yield* Effect.logInfo(`schema id ${id} (${name}) learned from the registry`)
    } catch (e) {
      yield* refuse(id, `the registry's ${name} cannot be read as ours: ${e instanceof Error ? e.message : String(e)}`)
    }
  })

  return {
    /**
     * Learns the unknown ids framing `records` from `from` on; fails only when the registry
     * stays unreachable (retryable). A plain scan when every id is known.
     */
    learn: (records: ReadonlyArray<KafkaRecord>, from: bigint): Effect.Effect<void, SchemaRegistryError> => {
      let unknown: Set<number> | undefined
      for (const record of records) {
        if (record.offset < from || record.value === null) continue
        const id = framedSchemaId(record.value)
        if (id !== undefined && !codec.knows(id) && !refused.has(id)) (unknown ??= new Set()).add(id)
      }
      if (unknown === undefined) return Effect.void
      const ids = unknown
      return lock.withPermits(1)(Effect.forEach(ids, learnOne, { discard: true })).pipe(
        Effect.tapError((e) => Effect.logWarning(`schema registry lookup failed, retrying: ${e.message}`)),
        Effect.retry({ schedule: retrySchedule, while: (e) => e.retryable })
      )
    },
    /** Why an id the codec does not know was refused, when it was. */
    refusal: (id: number): string | undefined => refused.get(id)
  }
}


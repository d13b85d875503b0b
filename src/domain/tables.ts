/**
 * The Iceberg tables of K2 (DESIGN.md "Data model"), with stable field ids.
 *
 * Field ids are forever: a column keeps its id across renames, and a dropped id is
 * never reused. Add new columns at the end with the next free id.
 */
import type { NestedField, PartitionSpec, Schema, SortOrder } from "./iceberg/spec.ts"

const NAMESPACE = "market_data"
const REFERENCE_NAMESPACE = "reference_data"

const DECIMAL = "decimal(18, 8)" as const

const field = (id: number, name: string, type: NestedField["type"], required = true): NestedField => ({
  id,
  name,
  required,
  type
})

const conditions = (id: number, elementId: number) =>
  field(id, "conditions", { type: "list", "element-id": elementId, element: "string", "element-required": true }, false)

const vendorData = (id: number, keyId: number, valueId: number) =>
  field(
    id,
    "vendor_data",
    { type: "map", "key-id": keyId, key: "string", "value-id": valueId, value: "string", "value-required": true },
    false
  )

export const tradesSchema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    field(1, "message_id", "string"),
    field(2, "trade_id", "string"),
    field(3, "symbol", "string"),
    field(4, "exchange", "string"),
    field(5, "asset_class", "string"),
    field(6, "exchange_timestamp", "timestamptz"),
    field(7, "price", DECIMAL),
    field(8, "quantity", DECIMAL),
    field(9, "currency", "string"),
    field(10, "side", "string"),
    conditions(11, 18),
    field(12, "source_sequence", "long", false),
    field(13, "ingestion_timestamp", "timestamptz"),
    field(14, "kafka_topic", "string"),
    field(15, "kafka_partition", "int"),
    field(16, "kafka_offset", "long"),
    vendorData(17, 19, 20)
  ]
}

const quotesSchema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    field(1, "message_id", "string"),
    field(2, "quote_id", "string"),
    field(3, "symbol", "string"),
    field(4, "exchange", "string"),
    field(5, "asset_class", "string"),
    field(6, "exchange_timestamp", "timestamptz"),
    field(7, "bid_price", DECIMAL),
    field(8, "bid_size", DECIMAL),
    field(9, "ask_price", DECIMAL),
    field(10, "ask_size", DECIMAL),
    field(11, "currency", "string"),
    conditions(12, 19),
    field(13, "source_sequence", "long", false),
    field(14, "ingestion_timestamp", "timestamptz"),
    field(15, "kafka_topic", "string"),
    field(16, "kafka_partition", "int"),
    field(17, "kafka_offset", "long"),
    vendorData(18, 20, 21)
  ]
}

export const sequenceEventsSchema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    field(1, "detected_at", "timestamptz"),
    field(2, "symbol", "string"),
    field(3, "exchange", "string"),
    field(4, "kind", "string"),
    field(5, "expected", "long", false),
    field(6, "received", "long", false),
    field(7, "gap_size", "long", false),
    field(8, "exchange_timestamp", "timestamptz"),
    field(9, "message_id", "string"),
    field(10, "kafka_topic", "string", false),
    field(11, "kafka_partition", "int", false),
    field(12, "kafka_offset", "long", false)
  ]
}

const instrumentsSchema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    field(1, "symbol", "string"),
    field(2, "exchange", "string"),
    field(3, "company_id", "string", false),
    field(4, "name", "string"),
    field(5, "isin", "string", false),
    field(6, "currency", "string"),
    field(7, "asset_class", "string"),
    field(8, "listing_date", "date", false),
    field(9, "delisting_date", "date", false),
    // Lineage, as in trades and quotes: readers keep the latest version of each (exchange, symbol)
    // by ingestion (docs/decisions.md ADR-10). Optional, so rows from other writers stay valid.
    field(10, "ingestion_timestamp", "timestamptz", false),
    field(11, "kafka_topic", "string", false),
    field(12, "kafka_partition", "int", false),
    field(13, "kafka_offset", "long", false)
  ]
}

const fieldId = (schema: Schema, name: string): number => {
  const found = schema.fields.find((f) => f.name === name)
  if (found === undefined) throw new Error(`no column ${name}`)
  return found.id
}

/** day(<column>) as partition field 1000, the first partition field id the spec reserves. */
export const dayPartitionSpec = (schema: Schema, column: string): PartitionSpec => ({
  "spec-id": 0,
  fields: [{ "source-id": fieldId(schema, column), "field-id": 1000, name: `${column}_day`, transform: "day" }]
})

const unpartitioned: PartitionSpec = { "spec-id": 0, fields: [] }

/** Sort order 1: (symbol, exchange_timestamp) ascending; rows of a symbol sit together so row groups prune. */
const symbolTimeSortOrder = (schema: Schema): SortOrder => ({
  "order-id": 1,
  fields: ["symbol", "exchange_timestamp"].map((name) => ({
    transform: "identity",
    "source-id": fieldId(schema, name),
    direction: "asc" as const,
    "null-order": "nulls-first" as const
  }))
})

export interface TableDefinition {
  readonly namespace: string
  readonly name: string
  readonly schema: Schema
  readonly spec: PartitionSpec
  readonly sortOrder: SortOrder | null
  /** Table properties K2 gives it: at creation, and at an ingest's start when the table lacks one. */
  readonly properties?: Readonly<Record<string, string>>
}

/**
 * How long K2's tables keep snapshots (ADR-33): ingestion commits every second, and every commit
 * rewrites metadata.json with all of them (~1.3 KB each). Iceberg's default, 5 days, would be
 * 432,000 of them: at 4,000 a commit took 150 ms against 34 ms at 1,000, and the process's RSS
 * had grown by 200 MB. Every engine's expiry reads this property; K2's runs beside ingestion
 * (`ingest --expire-every`).
 */
const SNAPSHOT_RETENTION_MS = 3_600_000

const properties = {
  "history.expire.max-snapshot-age-ms": String(SNAPSHOT_RETENTION_MS),
  // Each commit's metadata.json holds that hour (~4 MB): the ones past the metadata log go at once,
  // not after orphan removal's grace (a commit a second made gigabytes an hour), and the log keeps
  // 10, not Java's 100 (~400 MB a table). No reader goes back to an earlier file: time travel is by
  // snapshot, and a reader whose file went since it read the location reads the location again.
  "write.metadata.delete-after-commit.enabled": "true",
  "write.metadata.previous-versions-max": "10"
}

export const tables = {
  trades: {
    namespace: NAMESPACE,
    name: "trades",
    schema: tradesSchema,
    spec: dayPartitionSpec(tradesSchema, "exchange_timestamp"),
    sortOrder: symbolTimeSortOrder(tradesSchema),
    properties
  },
  quotes: {
    namespace: NAMESPACE,
    name: "quotes",
    schema: quotesSchema,
    spec: dayPartitionSpec(quotesSchema, "exchange_timestamp"),
    sortOrder: symbolTimeSortOrder(quotesSchema),
    properties
  },
  sequenceEvents: {
    namespace: NAMESPACE,
    name: "sequence_events",
    schema: sequenceEventsSchema,
    spec: dayPartitionSpec(sequenceEventsSchema, "exchange_timestamp"),
    sortOrder: symbolTimeSortOrder(sequenceEventsSchema),
    properties
  },
  instruments: {
    namespace: REFERENCE_NAMESPACE,
    name: "instruments",
    schema: instrumentsSchema,
    spec: unpartitioned,
    sortOrder: null,
    properties
  }
} as const satisfies Record<string, TableDefinition>

/**
 * The tables an ingest writes: the market tables always, instruments when it reads a reference
 * topic. Ingest creates and maintains these and `compact` maintains them all by default: one list,
 * so that a table added here is not left out of either (instruments once was, by compact).
 */
export const ingestedTables = (readsReference: boolean): ReadonlyArray<TableDefinition> =>
  readsReference
    ? [tables.trades, tables.quotes, tables.sequenceEvents, tables.instruments]
    : [tables.trades, tables.quotes, tables.sequenceEvents]

/** K2's tables by their Iceberg name. */
export type TableName = "trades" | "quotes" | "sequence_events" | "instruments"

export const definitionOf = (table: TableName): TableDefinition =>
  table === "sequence_events" ? tables.sequenceEvents : tables[table]

/** The catalog identifier of a table. */
export const identifierOf = (table: TableName): { readonly namespace: string; readonly name: string } => ({
  namespace: definitionOf(table).namespace,
  name: table
})

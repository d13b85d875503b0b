/**
 * The metadata of a table K2 creates: its first schema, spec and sort order, Java's default
 * properties K2 writes with, and no snapshot yet.
 */
import type { PartitionSpec, Schema, SortOrder, TableMetadata } from "./spec.ts"

export interface NewTable {
  readonly uuid: string
  readonly location: string
  readonly schema: Schema
  readonly spec: PartitionSpec
  readonly sortOrder: SortOrder | null
  readonly properties?: Readonly<Record<string, string>>
  readonly nowMs: number
}

const maxFieldId = (schema: Schema): number => {
  let max = 0
  const visit = (type: unknown): void => {
    if (typeof type !== "object" || type === null) return
    const t = type as Record<string, unknown>
    if (t.type === "struct") for (const f of t.fields as Array<{ id: number; type: unknown }>) track(f.id, f.type)
    if (t.type === "list") track(t["element-id"] as number, t.element)
    if (t.type === "map") {
      track(t["key-id"] as number, t.key)
      track(t["value-id"] as number, t.value)
    }
  }
  const track = (id: number, type: unknown) => {
    max = Math.max(max, id)
    visit(type)
  }
  visit(schema)
  return max
}

const unsorted: SortOrder = { "order-id": 0, fields: [] }

export const newTableMetadata = (table: NewTable): TableMetadata => ({
  "format-version": 2,
  "table-uuid": table.uuid,
  location: table.location,
  "last-sequence-number": 0n,
  "last-updated-ms": table.nowMs,
  "last-column-id": maxFieldId(table.schema),
  "current-schema-id": table.schema["schema-id"],
  schemas: [table.schema],
  "default-spec-id": table.spec["spec-id"],
  "partition-specs": [table.spec],
  "last-partition-id": Math.max(999, ...table.spec.fields.map((f) => f["field-id"])),
  "default-sort-order-id": table.sortOrder?.["order-id"] ?? 0,
  "sort-orders": table.sortOrder === null ? [unsorted] : [unsorted, table.sortOrder],
  properties: { "write.format.default": "parquet", "write.parquet.compression-codec": "zstd", ...table.properties },
  snapshots: [],
  "snapshot-log": [],
  "metadata-log": [],
  refs: {}
})

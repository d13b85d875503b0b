/** A table's partition specs and sort orders: the ones new data is written with, a spec by id. */
import type { PartitionSpec, SortOrder, TableMetadata } from "./spec.ts"

/** The partition spec new data is written with. */
export const defaultSpec = (m: TableMetadata): PartitionSpec => specById(m, m["default-spec-id"])!

/** A partition spec of the table; a manifest's files are partitioned by the spec it names. */
export const specById = (m: TableMetadata, specId: number): PartitionSpec | undefined =>
  m["partition-specs"].find((s) => s["spec-id"] === specId)

/** The sort order new data is written with; null when unsorted (order 0). */
export const defaultSortOrder = (m: TableMetadata): SortOrder | null =>
  m["default-sort-order-id"] === 0
    ? null
    : m["sort-orders"].find((s) => s["order-id"] === m["default-sort-order-id"]) ?? null

/**
 * Commit requirements, in the vocabulary of the REST catalog protocol: what must hold of the
 * table for a change built on it to apply.
 */
import type { TableMetadata } from "./spec.ts"

export type TableRequirement =
  | { readonly type: "assert-create" }
  | { readonly type: "assert-table-uuid"; readonly uuid: string }
  | { readonly type: "assert-ref-snapshot-id"; readonly ref: string; readonly "snapshot-id": bigint | null }

/** Why a requirement does not hold on `base`, or null when all hold. */
export const unmetRequirement = (
  base: TableMetadata | null,
  requirements: ReadonlyArray<TableRequirement>
): string | null => {
  for (const r of requirements) {
    switch (r.type) {
      case "assert-create":
        if (base !== null) return "table already exists"
        break
      case "assert-table-uuid":
        if (base?.["table-uuid"] !== r.uuid) return `table uuid is not ${r.uuid}`
        break
      case "assert-ref-snapshot-id": {
        const actual = base?.refs[r.ref]?.["snapshot-id"] ?? null
        if (actual !== r["snapshot-id"]) {
          return `ref ${r.ref} is at ${actual ?? "nothing"}, expected ${r["snapshot-id"] ?? "nothing"}`
        }
      }
    }
  }
  return null
}

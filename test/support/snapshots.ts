/** Commits as another engine would, straight through the catalog. */
import { Effect } from "effect"
import { currentSnapshot } from "../../src/domain/iceberg/metadata.ts"
import type { Snapshot } from "../../src/domain/iceberg/spec.ts"
import { identifierOf, type TableName } from "../../src/domain/tables.ts"
import { Catalog } from "../../src/services/Catalog.ts"

/**
 * A snapshot of `table` on top of its current one, made current; `change` says how it differs
 * from its parent. Returns the table's metadata before the commit.
 */
export const commitOnCurrent = (table: TableName, change: (parent: Snapshot) => Partial<Snapshot>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const id = identifierOf(table)
    const { metadata } = yield* catalog.loadTable(id)
    const parent = currentSnapshot(metadata)!
    const snapshotId = parent["snapshot-id"] + 1n
    yield* catalog.commitTable(id, [], [
      {
        action: "add-snapshot",
        snapshot: {
          ...parent,
          "snapshot-id": snapshotId,
          "parent-snapshot-id": parent["snapshot-id"],
          "sequence-number": metadata["last-sequence-number"] + 1n,
          ...change(parent)
        }
      },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId }
    ])
    return metadata
  })

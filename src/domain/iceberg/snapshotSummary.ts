/** The summary a new snapshot carries (spec "Snapshot summary"). */
import type { DataFile, Snapshot, SnapshotOperation } from "./spec.ts"

const sum = (files: ReadonlyArray<DataFile>, f: (d: DataFile) => number) => files.reduce((n, d) => n + f(d), 0)

const partitionKey = (d: DataFile) => JSON.stringify(d.partition)

/**
 * The standard snapshot summary (spec "Snapshot summary"), carrying totals forward from the parent.
 * As Java's SnapshotProducer: a table's first snapshot starts them at 0; a total the parent does
 * not state (an older writer's) stays unstated, since this commit's files alone are not the table's.
 */
export const snapshotSummary = (
  operation: SnapshotOperation,
  parent: Snapshot | undefined,
  added: ReadonlyArray<DataFile>,
  deleted: ReadonlyArray<DataFile>,
  extra: Readonly<Record<string, string>>
): Snapshot["summary"] => {
  const total = (key: string, change: number): Record<string, string> => {
    const before = parent === undefined ? "0" : parent.summary[key]
    if (before === undefined || !/^\d+$/.test(before)) return {}
    const after = Number(before) + change
    return Number.isSafeInteger(after) && after >= 0 ? { [key]: String(after) } : {}
  }
  const addedRecords = sum(added, (d) => d.recordCount)
  const deletedRecords = sum(deleted, (d) => d.recordCount)
  const addedSize = sum(added, (d) => d.fileSizeInBytes)
  const removedSize = sum(deleted, (d) => d.fileSizeInBytes)
  const changed = new Set([...added, ...deleted].map(partitionKey))
  return {
    ...extra,
    operation,
    "added-data-files": String(added.length),
    "added-records": String(addedRecords),
    "added-files-size": String(addedSize),
    ...(deleted.length > 0
      ? {
        "deleted-data-files": String(deleted.length),
        "deleted-records": String(deletedRecords),
        "removed-files-size": String(removedSize)
      }
      : {}),
    "changed-partition-count": String(changed.size),
    ...total("total-data-files", added.length - deleted.length),
    ...total("total-records", addedRecords - deletedRecords),
    ...total("total-files-size", addedSize - removedSize),
    // K2 adds and removes no delete files.
    ...total("total-delete-files", 0),
    ...total("total-position-deletes", 0),
    ...total("total-equality-deletes", 0)
  }
}

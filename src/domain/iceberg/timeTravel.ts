/**
 * Time travel from the snapshot log: the snapshot current at a time, whether the table had none
 * then, and what was committed by the time a pinned snapshot was made current.
 */
import { snapshotById, snapshotIndex } from "./snapshotLookup.ts"
import type { Snapshot, TableMetadata } from "./spec.ts"

type SnapshotLog = TableMetadata["snapshot-log"]
/** Whether each log's times never go back, learned once per log (metadata is never changed in place). */
const timeOrdered = new WeakMap<SnapshotLog, boolean>()
const inTimeOrder = (log: SnapshotLog): boolean => {
  let ordered = timeOrdered.get(log)
  if (ordered === undefined) {
    ordered = true
    for (let i = 1; i < log.length && ordered; i++) ordered = log[i - 1]!["timestamp-ms"] <= log[i]!["timestamp-ms"]
    timeOrdered.set(log, ordered)
  }
  return ordered
}

/**
 * The snapshot that was current at `timestampMs`, from the snapshot log (what time travel reads);
 * undefined when the log cannot tell: a log that lost an expired snapshot's entry but kept older
 * ones (written before expiry trimmed it as Java does) shows it where the next entry's parent is
 * gone, and the older entry no longer says until when it was current.
 */
export const snapshotAsOf = (m: TableMetadata, timestampMs: number): Snapshot | undefined => {
  const log = m["snapshot-log"]
  let found = -1
  if (inTimeOrder(log)) {
    // The last entry at or before the time, by bisection: a scan made each request pay for the history.
    let lo = 0, hi = log.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (log[mid]!["timestamp-ms"] <= timestampMs) lo = mid + 1
      else hi = mid
    }
    found = lo - 1
  } else {
    for (const [i, entry] of log.entries()) {
      if (entry["timestamp-ms"] <= timestampMs) found = i
    }
  }
  if (found < 0) return undefined
  const id = log[found]!["snapshot-id"]
  const next = log[found + 1] === undefined ? undefined : snapshotById(m, log[found + 1]!["snapshot-id"])
  const parent = next?.["parent-snapshot-id"]
  // A next entry made before this one was logged (main set back to an older snapshot) says nothing of
  // the time between: its parent, expired or not, was older still.
  const madeSince = next !== undefined && next["timestamp-ms"] >= log[found]!["timestamp-ms"]
  if (parent !== undefined && parent !== id && madeSince && snapshotById(m, parent) === undefined) return undefined
  return snapshotById(m, id)
}

/**
 * The table had no snapshot at `timestampMs`: every snapshot is later, and none has an expired
 * parent (an expired snapshot may have been the one current then). Where snapshotAsOf finds none
 * and this is false, the state then was expired: reading the table as empty would be wrong.
 */
export const noSnapshotAt = (m: TableMetadata, timestampMs: number): boolean => {
  if (m.snapshots.some((s) => s["timestamp-ms"] <= timestampMs)) return false
  const byId = snapshotIndex(m)
  return m.snapshots.every((s) => {
    const parent = s["parent-snapshot-id"]
    return parent === undefined || byId.has(parent)
  })
}

/**
 * The highest sequence number committed by the time `pinned` was made current: after a rollback
 * (main set back to an older snapshot) the snapshots rolled back were committed before the pin, and
 * are still there to read by id; only those committed since are left out.
 */
export const committedBy = (m: TableMetadata, pinned: Snapshot): bigint => {
  const log = m["snapshot-log"]
  const last = log.findLastIndex((e) => e["snapshot-id"] === pinned["snapshot-id"])
  let bound = pinned["sequence-number"]
  for (let i = 0; i <= last; i++) {
    const s = snapshotById(m, log[i]!["snapshot-id"])
    if (s !== undefined && s["sequence-number"] > bound) bound = s["sequence-number"]
  }
  return bound
}

/** Snapshots of a table by id: the current one, one by id, and a snapshot's ancestry. */
import type { Snapshot, TableMetadata } from "./spec.ts"

export const currentSnapshot = (m: TableMetadata): Snapshot | undefined =>
  m["current-snapshot-id"] === undefined ? undefined : snapshotById(m, m["current-snapshot-id"])

export const snapshotById = (m: TableMetadata, id: bigint): Snapshot | undefined => snapshotIndex(m).get(id)

/**
 * Built once per snapshot list (metadata is never changed in place): the catalog caches decoded
 * metadata, and a scan per lookup made every request and commit pay for the whole history.
 */
const indexes = new WeakMap<ReadonlyArray<Snapshot>, ReadonlyMap<bigint, Snapshot>>()

/**
 * Snapshots by id, for walking parents and lookups: a scan of every snapshot per step made a walk quadratic
 * (seconds, with the event loop held, once one commit a second had made a day of snapshots).
 */
export const snapshotIndex = (m: TableMetadata): ReadonlyMap<bigint, Snapshot> => {
  let index = indexes.get(m.snapshots)
  if (index === undefined) {
    const built = new Map<bigint, Snapshot>()
    // The first of a repeated id, as a scan finds it.
    for (const s of m.snapshots) if (!built.has(s["snapshot-id"])) built.set(s["snapshot-id"], s)
    indexes.set(m.snapshots, index = built)
  }
  return index
}

/**
 * Snapshots from `from` (default the current one) back through its parents, newest first, one at a
 * time: a reader that stops at the first it wants (a group's marker, mostly in the current snapshot)
 * does not build the whole history.
 */
export function* ancestors(m: TableMetadata, from: bigint | undefined = m["current-snapshot-id"]): Generator<Snapshot, void> {
  const index = snapshotIndex(m)
  let s = from === undefined ? undefined : index.get(from)
  // A parent cycle (damaged metadata) ends the walk rather than looping.
  for (let n = 0; s !== undefined && n < index.size; n++) {
    yield s
    const parent = s["parent-snapshot-id"]
    s = parent === undefined ? undefined : index.get(parent)
  }
}

/** Snapshots from `from` (default the current one) back through its parents, newest first (a loop: a generator's steps cost more). */
export const ancestry = (m: TableMetadata, from: bigint | undefined = m["current-snapshot-id"]): ReadonlyArray<Snapshot> => {
  const index = snapshotIndex(m)
  const out: Array<Snapshot> = []
  let s = from === undefined ? undefined : index.get(from)
  // A parent cycle (damaged metadata) ends the walk rather than looping.
  while (s !== undefined && out.length < index.size) {
    out.push(s)
    const parent = s["parent-snapshot-id"]
    s = parent === undefined ? undefined : index.get(parent)
  }
  return out
}

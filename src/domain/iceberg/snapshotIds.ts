/** Ids of new snapshots (ADR-39): random, as Java draws them, and none the table names yet. */
import type { TableMetadata } from "./spec.ts"

/** A random positive 63-bit id, as Java makes them. */
export const newSnapshotId = (): bigint => {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  bytes[0]! &= 0x7f
  const id = new DataView(bytes.buffer).getBigUint64(0)
  return id === 0n ? 1n : id
}

/**
 * Whether `m` names snapshot `id` anywhere: a snapshot, a parent, the log, a ref (an expired
 * snapshot's id may linger in the last three). Looked up for the
 * one id drawn (a 63-bit random id nearly never is), not gathered into a set: at an hour of
 * one-second commits that set was ~11,000 ids built at every commit (~1.3 ms, ADR-84).
 */
const namesSnapshot = (m: TableMetadata, id: bigint): boolean =>
  m.snapshots.some((s) => s["snapshot-id"] === id || s["parent-snapshot-id"] === id) ||
  m["snapshot-log"].some((e) => e["snapshot-id"] === id) ||
  Object.values(m.refs).some((r) => r["snapshot-id"] === id)

/**
 * The id of a snapshot to add to `m`: drawn from `draw` again while `m` names it, as Java's
 * SnapshotProducer draws again while its base has it. Reusing an expired snapshot's id too would
 * make the walk from its child, or the log's entry of it, find the new snapshot.
 */
export const freshSnapshotId = (m: TableMetadata, draw: () => bigint = newSnapshotId): bigint => {
  let id = draw()
  while (namesSnapshot(m, id)) id = draw()
  return id
}

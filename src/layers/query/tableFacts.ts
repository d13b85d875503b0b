/**
 * Facts about a table from its metadata alone, no data read: its size, time span and days
 * from a scan plan's files, and its snapshot log.
 */
import { decode as decodeBound } from "../../domain/iceberg/bounds.ts"
import { daysOfFile, type timeFields } from "../../domain/iceberg/fileDays.ts"
import { committedBy, snapshotById } from "../../domain/iceberg/metadata.ts"
import type { PrimitiveType, TableMetadata } from "../../domain/iceberg/spec.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"

/** The field id of the plan's exchange_timestamp when it is a timestamp (days are counted from it). */
export const timestampFieldId = (p: ScanPlan): number | undefined => {
  const column = p.schema.fields.find((f) => f.name === "exchange_timestamp")
  return column?.type === "timestamptz" || column?.type === "timestamp" ? column.id : undefined
}

/**
 * The table's facts from a plan of all its files. `fields`: the time partition fields of the
 * table's specs (`timeFields`), for files whose bounds do not give their days.
 */
export const tableStatsOf = (p: ScanPlan, fields: ReturnType<typeof timeFields> | undefined) => {
  const column = p.schema.fields.find((f) => f.name === "exchange_timestamp")
  let first: number | null = null
  let last: number | null = null
  const days = new Set<unknown>()
  // Days from each file's bounds of exchange_timestamp, else its time partition (as replay
  // places files): another engine's spec (by hour, or fields beside the day) made the partition
  // values hours, or mixed, and counting them all as days said 38 days of 4.
  const ts = timestampFieldId(p)
  for (const file of p.files) {
    const span = ts === undefined ? null : daysOfFile(file, ts, fields)
    if (span !== null) for (let d = span[0]; d <= span[1]; d++) days.add(d)
    else if (ts !== undefined) days.add(JSON.stringify(file.partition))
    else for (const v of Object.values(file.partition)) days.add(v)
    if (column === undefined) continue
    const lo = file.lowerBounds.get(column.id)
    const hi = file.upperBounds.get(column.id)
    if (lo !== undefined) {
      const v = Number(decodeBound(column.type as PrimitiveType, lo) as bigint)
      first = first === null ? v : Math.min(first, v)
    }
    if (hi !== undefined) {
      const v = Number(decodeBound(column.type as PrimitiveType, hi) as bigint)
      last = last === null ? v : Math.max(last, v)
    }
  }
  return {
    table: `${p.table.namespace}.${p.table.name}`,
    snapshotId: p.snapshot?.["snapshot-id"] ?? null,
    snapshotTimestampMs: p.snapshot?.["timestamp-ms"] ?? null,
    records: p.files.reduce((n, f) => n + f.recordCount, 0),
    dataFiles: p.files.length,
    bytes: p.stats.bytesPlanned,
    manifests: p.stats.manifestsTotal,
    firstTimestamp: first,
    lastTimestamp: last,
    days: days.size
  }
}

/** The snapshot log, oldest first; `upTo`: as it stood when that snapshot was current. */
export const snapshotLog = (metadata: TableMetadata, upToId: bigint | undefined) => {
  // A commit that landed since the pin is left out (the answer's ETag names the pinned one);
  // a pinned snapshot expired meanwhile leaves the log as it is now.
  const upTo = upToId === undefined ? undefined : snapshotById(metadata, upToId)
  const current = upTo?.["snapshot-id"] ?? metadata["current-snapshot-id"] ?? null
  const bound = upTo === undefined ? undefined : committedBy(metadata, upTo)
  const listed = bound === undefined ? metadata.snapshots : metadata.snapshots.filter((s) => s["sequence-number"] <= bound)
  return listed.map((s) => ({
    snapshotId: s["snapshot-id"],
    parentId: s["parent-snapshot-id"] ?? null,
    timestampMs: s["timestamp-ms"],
    operation: s.summary.operation ?? "",
    summary: s.summary,
    current: current !== null && s["snapshot-id"] === current
  })).sort((a, b) => a.timestampMs - b.timestampMs)
}

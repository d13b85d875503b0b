/**
 * Pure planning of table maintenance: which snapshots expiry keeps, which files a set of
 * snapshots references, how locations compare, which files compaction rewrites.
 */
import * as path from "node:path"
import { ancestry, currentSnapshot, metadataDirectory } from "../../domain/iceberg/metadata.ts"
import type { DataFile, Snapshot, TableMetadata } from "../../domain/iceberg/spec.ts"
import { decodeOffsets, MARKER_PREFIX } from "../../domain/ingest/marker.ts"
import { isLocalLocation, localPath } from "../iceberg/fileio.ts"
import { isMetadataFileName } from "../iceberg/otherTables.ts"

/**
 * One spelling per file: engines write `file:/x`, `file:///x` or a bare `/x` for the same
 * local file, and a relative path is the file FileIO reads against the working directory.
 * Non-file URIs (s3://...) are compared as written.
 */
export const normalizeLocation = (location: string): string => {
  if (location.startsWith("file:")) {
    try {
      return path.normalize(localPath(location))
    } catch {
      return location
    }
  }
  return isLocalLocation(location) && location.length > 0 ? path.resolve(location) : location
}

/**
 * Every local path a referenced location may name, for orphan removal to keep: as K2 reads it
 * (`normalizeLocation`), and for a `file:` URI also its path taken literally, as Java's HadoopFileIO and
 * PyIceberg take it (`file:/x/a%41b/f` is in the directory `a%41b` to them, `aAb` to K2): a file either
 * reading names is never removed.
 */
export const referencedSpellings = (location: string): ReadonlyArray<string> => {
  const read = normalizeLocation(location)
  if (!location.startsWith("file:")) return [read]
  const rest = location.slice("file:".length)
  const at = rest.startsWith("//") ? rest.indexOf("/", 2) : 0
  const literal = at < 0 ? "" : rest.slice(at)
  return literal.startsWith("/") && path.normalize(literal) !== read ? [read, path.normalize(literal)] : [read]
}

export interface ExpiryPlan {
  /** Snapshots kept, by id. */
  readonly keep: ReadonlySet<bigint>
  readonly expire: ReadonlyArray<bigint>
  /** Refs other than main whose snapshot is older than their max-ref-age-ms: removed with the snapshots. */
  readonly expiredRefs: ReadonlyArray<string>
  /** Consumer group → the newest snapshot carrying its marker (always kept). */
  readonly markers: Readonly<Record<string, bigint>>
}

/** Consumer groups whose marker appears in any snapshot summary. */
export const markerGroups = (m: TableMetadata): ReadonlyArray<string> => {
  const groups = new Set<string>()
  for (const s of m.snapshots) {
    for (const key of Object.keys(s.summary)) {
      if (key.startsWith(MARKER_PREFIX)) groups.add(key.slice(MARKER_PREFIX.length))
    }
  }
  return [...groups].sort()
}

const carriesMarker = (s: Snapshot, group: string) => {
  const text = s.summary[`${MARKER_PREFIX}${group}`]
  return text !== undefined && decodeOffsets(text) !== undefined
}

/** A ref's retention field as another engine wrote it (K2 writes none); absent or not a positive number: unset. */
const refRetention = (
  ref: TableMetadata["refs"][string],
  key: "min-snapshots-to-keep" | "max-snapshot-age-ms" | "max-ref-age-ms"
) => {
  const value = (ref as unknown as Readonly<Record<string, unknown>>)[key]
  const n = typeof value === "number" || typeof value === "bigint" ? Number(value) : Number.NaN
  return n > 0 ? n : undefined
}

/**
 * Refs other than main whose snapshot is older than the ref's max-ref-age-ms, else `maxRefAgeMs`
 * (the table's history.expire.max-ref-age-ms; unset: refs never age), as Java's expiry ages them.
 */
const expiredRefsOf = (m: TableMetadata, nowMs: number, maxRefAgeMs: number | undefined): ReadonlyArray<string> =>
  Object.entries(m.refs).filter(([name, ref]) => {
    if (name === "main") return false
    const maxAge = refRetention(ref, "max-ref-age-ms") ?? maxRefAgeMs
    const snapshot = m.snapshots.find((s) => s["snapshot-id"] === ref["snapshot-id"])
    return maxAge !== undefined && snapshot !== undefined && nowMs - snapshot["timestamp-ms"] > maxAge
  }).map(([name]) => name)

/**
 * Expire snapshots older than `maxSnapshotAgeMs` beyond the newest `retainLast`, but never:
 * the current snapshot or any ref's that has not aged out (`expiredRefs`); the ancestors a branch's own retention policy keeps; per
 * consumer group, the newest snapshot carrying its marker (DESIGN.md step 6) together with every
 * snapshot between it and the current one, so that walking back from the current snapshot (how
 * ingestion finds its marker) reaches it.
 */
export const planExpiry = (
  m: TableMetadata,
  options: {
    readonly maxSnapshotAgeMs: number
    readonly retainLast: number
    readonly nowMs: number
    readonly maxRefAgeMs?: number | undefined
  }
): ExpiryPlan => {
  const keep = new Set<bigint>()
  const expiredRefs = expiredRefsOf(m, options.nowMs, options.maxRefAgeMs)
  const refs = Object.entries(m.refs).filter(([name]) => !expiredRefs.includes(name)).map(([, ref]) => ref)
  const cutoff = options.nowMs - options.maxSnapshotAgeMs
  // Commits in the same millisecond are ordered by their sequence numbers.
  const newestFirst = [...m.snapshots].sort((a, b) =>
    b["timestamp-ms"] - a["timestamp-ms"] || Number(b["sequence-number"] - a["sequence-number"])
  )
  newestFirst.slice(0, Math.max(1, options.retainLast)).forEach((s) => keep.add(s["snapshot-id"]))
  for (const s of m.snapshots) if (s["timestamp-ms"] >= cutoff) keep.add(s["snapshot-id"])
  // So does one that was current within the window, however old its commit: as_of any instant of
  // the window then finds the snapshot current at it. Aged by its commit alone (as Java ages it),
  // the state of a table idle overnight went with the morning's first commit, and "as of five
  // minutes ago" answered that it had expired.
  const log = m["snapshot-log"]
  for (let i = 0; i + 1 < log.length; i++) if (log[i + 1]!["timestamp-ms"] > cutoff) keep.add(log[i]!["snapshot-id"])
  const current = currentSnapshot(m)
  if (current !== undefined) keep.add(current["snapshot-id"])
  for (const ref of refs) keep.add(ref["snapshot-id"])
  // Each branch keeps its ancestors by its own retention policy where it sets one (spec, "Snapshot
  // Retention Policy"): the first min-snapshots-to-keep, and every one younger than max-snapshot-age-ms.
  for (const ref of refs) {
    if (ref.type !== "branch") continue
    const minToKeep = refRetention(ref, "min-snapshots-to-keep") ?? options.retainLast
    const olderThan = options.nowMs - (refRetention(ref, "max-snapshot-age-ms") ?? options.maxSnapshotAgeMs)
    for (const [n, s] of ancestry(m, ref["snapshot-id"]).entries()) {
      if (n >= minToKeep && s["timestamp-ms"] < olderThan) break
      keep.add(s["snapshot-id"])
    }
  }

  const markers: Record<string, bigint> = {}
  const chain = ancestry(m)
  for (const group of markerGroups(m)) {
    const index = chain.findIndex((s) => carriesMarker(s, group))
    if (index >= 0) {
      chain.slice(0, index + 1).forEach((s) => keep.add(s["snapshot-id"]))
      markers[group] = chain[index]!["snapshot-id"]
      continue
    }
    // Only off the main line (another branch, or an ancestry already broken): keep the newest.
    const newest = newestFirst.find((s) => carriesMarker(s, group))
    if (newest !== undefined) {
      keep.add(newest["snapshot-id"])
      markers[group] = newest["snapshot-id"]
    }
  }
  const expire = m.snapshots.map((s) => s["snapshot-id"]).filter((id) => !keep.has(id))
  return { keep, expire, expiredRefs, markers }
}

/**
 * Values of a snapshot summary, or of the table properties mirroring one (ADR-21), that name
 * files K2 keeps beside the table (sequence checkpoints).
 */
export const sideFiles = (summary: Readonly<Record<string, string>>): ReadonlyArray<string> =>
  Object.entries(summary).filter(([k]) => k.startsWith("k2.sequence.")).map(([, v]) => v)

/**
 * Metadata-level files: the current metadata file, its log, statistics files, and the version hint
 * a Hadoop catalog finds the table by (Java's orphan removal keeps it too).
 */
export const metadataFiles = (m: TableMetadata, metadataLocation: string): ReadonlyArray<string> => {
  const out = [
    metadataLocation,
    ...m["metadata-log"].map((e) => e["metadata-file"]),
    `${m.location.replace(/\/+$/, "")}/metadata/version-hint.text`
  ]
  for (const list of [m.statistics, m["partition-statistics"]]) {
    for (const entry of list ?? []) {
      const p = (entry as { "statistics-path"?: unknown })["statistics-path"]
      if (typeof p === "string") out.push(p)
    }
  }
  return out
}

/** A checksum file Hadoop's local file system writes beside `<dir>/<name>`: `<dir>/.<name>.crc`. */
export const crcOf = (location: string): string | undefined => {
  const base = path.basename(location)
  const m = /^\.(.+)\.crc$/.exec(base)
  return m === null ? undefined : path.join(path.dirname(location), m[1]!)
}

/**
 * Directories under a table location holding another table, which orphan removal must not touch:
 * each directory holding a metadata file (`*.metadata.json`, or gzip `*.metadata.json.gz`) outside the table's own metadata
 * directories, or its parent when it is named `metadata` (the other table's location, as a
 * namespace named like the table nests one). A past metadata directory of the table itself is
 * taken for another's too: that only leaves its files behind. Locations normalized.
 */
export const otherTablesDirectories = (
  m: TableMetadata,
  metadataLocation: string,
  listed: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const own = new Set([
    normalizeLocation(`${m.location.replace(/\/+$/, "")}/metadata`),
    normalizeLocation(metadataDirectory(m)),
    ...[metadataLocation, ...m["metadata-log"].map((e) => e["metadata-file"])].map((f) => path.dirname(normalizeLocation(f)))
  ])
  const out = new Set<string>()
  for (const location of listed) {
    const local = normalizeLocation(location)
    const dir = path.dirname(local)
    if (!isMetadataFileName(local) || own.has(dir)) continue
    out.add(path.basename(dir) === "metadata" ? path.dirname(dir) : dir)
  }
  return [...out]
}

export interface CompactionGroup {
  readonly partition: DataFile["partition"]
  readonly specId: number
  /** All live files of the partition. */
  readonly files: ReadonlyArray<DataFile>
  /** The small ones, to rewrite. */
  readonly inputs: ReadonlyArray<DataFile>
}

/**
 * Live data files grouped by partition; a group is worth rewriting with >= minInputFiles small
 * files, and only when fewer files would come out: a partition over the target is written as equal
 * runs of its rows, which may each be below the small-file threshold (two halves of 1.2 targets),
 * and rewriting them would write the same runs again on every run.
 */
export const planCompaction = (
  live: ReadonlyArray<{ readonly file: DataFile; readonly specId: number }>,
  options: { readonly smallFileBytes: number; readonly minInputFiles: number; readonly targetFileSizeBytes: number }
): ReadonlyArray<CompactionGroup> => {
  const groups = new Map<string, { partition: DataFile["partition"]; specId: number; files: Array<DataFile> }>()
  for (const { file, specId } of live) {
    const key = `${specId}:${JSON.stringify(file.partition)}`
    const g = groups.get(key) ?? { partition: file.partition, specId, files: [] }
    g.files.push(file)
    groups.set(key, g)
  }
  return [...groups].sort(([a], [b]) => a.localeCompare(b)).flatMap(([, g]) => {
    const inputs = g.files.filter((f) => f.fileSizeInBytes < options.smallFileBytes)
    // Files out, from the inputs' size (a rewrite rarely grows them: one footer instead of many).
    const filesOut = Math.ceil(inputs.reduce((n, f) => n + f.fileSizeInBytes, 0) / Math.max(1, options.targetFileSizeBytes))
    return inputs.length >= Math.max(2, options.minInputFiles) && filesOut < inputs.length
      ? [{ partition: g.partition, specId: g.specId, files: g.files, inputs }]
      : []
  })
}

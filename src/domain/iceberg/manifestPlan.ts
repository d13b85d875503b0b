/**
 * Pure decisions about manifests: a manifest-list entry's counts and partition
 * summaries, and which manifests to merge so that a table committed every second
 * still plans fast.
 */
import * as Bounds from "./bounds.ts"
import {
  type DataFile,
  type FieldSummary,
  type ManifestEntry,
  ManifestEntryStatus,
  type ManifestFile,
  type PartitionSpec
} from "./spec.ts"

/** Partition values are day ordinals or other ints: 4-byte little-endian bounds. */
const partitionSummaries = (spec: PartitionSpec, files: ReadonlyArray<DataFile>): Array<FieldSummary> =>
  spec.fields.map((field) => {
    let containsNull = false
    let lower: number | undefined
    let upper: number | undefined
    for (const file of files) {
      const v = file.partition[field.name]
      if (v === null || v === undefined) {
        containsNull = true
        continue
      }
      lower = lower === undefined || v < lower ? v : lower
      upper = upper === undefined || v > upper ? v : upper
    }
    return {
      containsNull,
      containsNan: false,
      lowerBound: lower === undefined ? null : Bounds.encode("int", lower),
      upperBound: upper === undefined ? null : Bounds.encode("int", upper)
    }
  })

/** The manifest-list entry describing a manifest of `entries` written by `snapshotId` at `sequenceNumber`. */
export const describeManifest = (
  location: { readonly path: string; readonly length: number },
  spec: PartitionSpec,
  entries: ReadonlyArray<ManifestEntry>,
  snapshotId: bigint,
  sequenceNumber: bigint
): ManifestFile => {
  const count = (status: ManifestEntryStatus) => entries.filter((e) => e.status === status)
  const rows = (es: ReadonlyArray<ManifestEntry>) => es.reduce((n, e) => n + e.dataFile.recordCount, 0)
  const added = count(ManifestEntryStatus.ADDED)
  const existing = count(ManifestEntryStatus.EXISTING)
  const deleted = count(ManifestEntryStatus.DELETED)
  // Spec: the least data sequence number of the live files (Java's ManifestWriter); a file this
  // snapshot removed is no longer read, and one with none live takes the manifest's own number.
  const sequenceNumbers = [...added, ...existing].map((e) => e.sequenceNumber ?? sequenceNumber)
  return {
    manifestPath: location.path,
    manifestLength: location.length,
    partitionSpecId: spec["spec-id"],
    content: 0,
    sequenceNumber,
    minSequenceNumber: sequenceNumbers.reduce((a, b) => (b < a ? b : a), sequenceNumber),
    addedSnapshotId: snapshotId,
    addedFilesCount: added.length,
    existingFilesCount: existing.length,
    deletedFilesCount: deleted.length,
    addedRowsCount: rows(added),
    existingRowsCount: rows(existing),
    deletedRowsCount: rows(deleted),
    // Over every entry, deleted ones too, as Java's ManifestWriter: engines skip manifests by
    // these bounds when they look for deleted files (conflict validation).
    partitions: partitionSummaries(spec, entries.map((e) => e.dataFile))
  }
}

/** Whether a manifest lists a live (ADDED or EXISTING) file: one of DELETED entries alone adds nothing to a scan. */
export const hasLiveFiles = (manifest: ManifestFile): boolean => manifest.addedFilesCount > 0 || manifest.existingFilesCount > 0

/** New files of a snapshot: ADDED, ids and sequence numbers left to inheritance (the manifest survives a retry). */
export const addedEntries = (files: ReadonlyArray<DataFile>): Array<ManifestEntry> =>
  files.map((dataFile) => ({
    status: ManifestEntryStatus.ADDED,
    snapshotId: null,
    sequenceNumber: null,
    fileSequenceNumber: null,
    dataFile
  }))

/**
 * A live entry carried into a rewritten manifest: EXISTING, with the snapshot id and
 * sequence numbers it already had made explicit (it no longer inherits them).
 */
const carriedEntry = (entry: ManifestEntry): ManifestEntry => ({ ...entry, status: ManifestEntryStatus.EXISTING })

export const deletedEntry = (entry: ManifestEntry, snapshotId: bigint): ManifestEntry => ({
  ...entry,
  status: ManifestEntryStatus.DELETED,
  snapshotId
})

export interface MergePolicy {
  /** Merge once a snapshot would carry at least this many manifests (Java's commit.manifest.min-count-to-merge). */
  readonly minCountToMerge: number
  /** Manifests at or above this size are left alone (Java's commit.manifest.target-size-bytes). */
  readonly targetManifestBytes: number
}

export const defaultMergePolicy: MergePolicy = { minCountToMerge: 100, targetManifestBytes: 8 * 1024 * 1024 }

/**
 * Which manifests to fold together, or none while the count is still under the threshold: the
 * small ones, in one group per partition spec (a manifest holds the files of the spec it names).
 * Every manifest listed but those at the target size and the settled ones (below) counts towards
 * the threshold, but only those `foldable` takes are grouped
 * (not a commit's own new manifest, written as it is, nor one K2 does not read, listed as it is):
 * the others never hold back a merge of the rest. A group is of two or more: one manifest is not
 * merged into itself.
 */
export const manifestsToMerge = (
  manifests: ReadonlyArray<ManifestFile>,
  policy: MergePolicy,
  foldable: (manifest: ManifestFile) => boolean = () => true
): ReadonlyArray<ReadonlyArray<ManifestFile>> => {
  const settled = settledManifests(manifests)
  let count = 0
  for (const m of manifests) if (m.manifestLength < policy.targetManifestBytes && !settled.has(m)) count++
  if (count < policy.minCountToMerge) return []
  const bySpec = new Map<number, Array<ManifestFile>>()
  for (const m of manifests) {
    if (m.manifestLength >= policy.targetManifestBytes || m.content !== 0 || !foldable(m) || settled.has(m)) continue
    const group = bySpec.get(m.partitionSpecId)
    if (group === undefined) bySpec.set(m.partitionSpecId, [m])
    else group.push(m)
  }
  return [...bySpec.values()].filter((group) => group.length > 1)
}

/** The one partition value every file of a data manifest has (its fields' bounds), or undefined when they may differ. */
const partitionKey = (m: ManifestFile): string | undefined => {
  if (m.content !== 0 || m.partitions === null) return undefined
  const key: Array<string> = []
  for (const f of m.partitions) {
    if (f.containsNull || f.lowerBound === null || f.upperBound === null) return undefined
    const [lower, upper] = [f.lowerBound.join(","), f.upperBound.join(",")]
    if (lower !== upper) return undefined
    key.push(lower)
  }
  return `${m.partitionSpecId}:${key.join("/")}`
}

/**
 * What a merge leaves: a manifest that alone holds its partition value (of its spec). Neither
 * counted nor merged again: a table of more days than `minCountToMerge` would otherwise be past
 * the threshold for good, and every commit rewrite every manifest of the table (ADR-49).
 */
const settledManifests = (manifests: ReadonlyArray<ManifestFile>): ReadonlySet<ManifestFile> => {
  const byKey = new Map<string, Array<ManifestFile>>()
  for (const m of manifests) {
    const key = partitionKey(m)
    if (key === undefined) continue
    const same = byKey.get(key)
    if (same === undefined) byKey.set(key, [m])
    else same.push(m)
  }
  return new Set([...byKey.values()].flatMap((same) => same.length === 1 ? same : []))
}

/**
 * Live entries of merged manifests grouped by partition value, one manifest per
 * partition (split past `maxEntries`), so a one-day query reads only its day's manifests.
 * Deletes by the committing snapshot (`snapshotId`) stay, as Java keeps them: other engines
 * find what a snapshot removed there (Java's RowDelta checks that the files its deletes name
 * still exist by them); older deletes are dropped.
 */
export const groupForMerge = (
  entries: ReadonlyArray<ManifestEntry>,
  maxEntries: number,
  snapshotId: bigint
): ReadonlyArray<ReadonlyArray<ManifestEntry>> => {
  const byPartition = new Map<string, Array<ManifestEntry>>()
  for (const e of entries) {
    const deleted = e.status === ManifestEntryStatus.DELETED
    if (deleted && e.snapshotId !== snapshotId) continue
    const entry = deleted ? e : carriedEntry(e)
    const key = JSON.stringify(e.dataFile.partition)
    const group = byPartition.get(key)
    if (group === undefined) byPartition.set(key, [entry])
    else group.push(entry)
  }
  const groups: Array<ReadonlyArray<ManifestEntry>> = []
  for (const key of [...byPartition.keys()].sort()) {
    const partition = byPartition.get(key)!
    for (let i = 0; i < partition.length; i += maxEntries) groups.push(partition.slice(i, i + maxEntries))
  }
  return groups
}

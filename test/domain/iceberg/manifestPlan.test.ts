/** The manifest-list entry K2 writes for a manifest: what the spec says each count and bound means. */
import { assert, describe, it } from "@effect/vitest"
import { deletedEntry, describeManifest, groupForMerge, manifestsToMerge } from "../../../src/domain/iceberg/manifestPlan.ts"
import { type DataFile, type ManifestEntry, ManifestEntryStatus, type ManifestFile, type PartitionSpec } from "../../../src/domain/iceberg/spec.ts"
import { dataFileOf } from "../../support/fixtures.ts"

const spec: PartitionSpec = { "spec-id": 0, fields: [{ "source-id": 6, "field-id": 1000, name: "day", transform: "day" }] }

const file = (name: string, day: number): DataFile =>
  dataFileOf({ filePath: `file:///t/data/${name}.parquet`, partition: { day }, recordCount: 10, fileSizeInBytes: 100 })

/** A file committed by snapshot `snapshotId` at `sequenceNumber`, as a rewritten manifest carries it. */
const existing = (name: string, sequenceNumber: bigint, snapshotId = 100n + sequenceNumber): ManifestEntry => ({
  status: ManifestEntryStatus.EXISTING,
  snapshotId,
  sequenceNumber,
  fileSequenceNumber: sequenceNumber,
  dataFile: file(name, 19_000)
})

describe("describeManifest: min_sequence_number", () => {
  it("is the least data sequence number of the live files: a file removed by this snapshot does not lower it (as Java's ManifestWriter)", () => {
    // Compaction at sequence number 5 removes the file of sequence number 1 and keeps the one of 3.
    const entries = [deletedEntry(existing("old", 1n), 900n), existing("kept", 3n)]
    const described = describeManifest({ path: "file:///t/metadata/m.avro", length: 1 }, spec, entries, 900n, 5n)
    assert.strictEqual(described.minSequenceNumber, 3n)
    assert.strictEqual(described.deletedFilesCount, 1)
    assert.strictEqual(described.existingFilesCount, 1)
  })

  it("is the manifest's own sequence number when no file in it is live (every one removed by this snapshot)", () => {
    const entries = [deletedEntry(existing("a", 1n), 900n), deletedEntry(existing("b", 2n), 900n)]
    const described = describeManifest({ path: "file:///t/metadata/m.avro", length: 1 }, spec, entries, 900n, 5n)
    assert.strictEqual(described.minSequenceNumber, 5n)
  })

  it("counts an ADDED file, whose number is inherited, at the manifest's sequence number", () => {
    const added: ManifestEntry = { status: ManifestEntryStatus.ADDED, snapshotId: null, sequenceNumber: null, fileSequenceNumber: null, dataFile: file("new", 19_001) }
    const described = describeManifest({ path: "file:///t/metadata/m.avro", length: 1 }, spec, [added, existing("kept", 3n)], 900n, 5n)
    assert.strictEqual(described.minSequenceNumber, 3n)
  })
})

const manifestOf = (name: string, length: number, partitionSpecId = 0): ManifestFile => ({
  ...describeManifest({ path: `file:///t/metadata/${name}.avro`, length }, spec, [existing(name, 1n)], 900n, 5n),
  partitionSpecId
})

describe("manifestsToMerge", () => {
  const policy = { minCountToMerge: 4, targetManifestBytes: 1_000 }
  /** A manifest of one file of `day`, as a merge leaves each day. */
  const dayManifest = (name: string, day: number): ManifestFile =>
    describeManifest({ path: `file:///t/metadata/${name}.avro`, length: 10 }, spec, [{ ...existing(name, 1n), dataFile: file(name, day) }], 900n, 5n)
  const paths = (groups: ReadonlyArray<ReadonlyArray<ManifestFile>>) => groups.map((g) => g.map((m) => m.manifestPath.slice("file:///t/metadata/".length)))

  it("does not merge again the one-manifest-a-day a merge left, however many days (a year of history)", () => {
    // More days than the threshold: counted, they made every commit rewrite every manifest of the table.
    const days = Array.from({ length: 6 }, (_, i) => dayManifest(`day${i}`, 19_000 + i))
    assert.deepStrictEqual(manifestsToMerge([dayManifest("new", 19_006), ...days], policy), [])
    assert.deepStrictEqual(manifestsToMerge([dayManifest("new", 19_005), ...days], policy), [])
  })

  it("counts and merges the manifests of a day that has several, and those of several days, beside the settled days", () => {
    const days = Array.from({ length: 6 }, (_, i) => dayManifest(`day${i}`, 19_000 + i))
    const spanning = describeManifest({ path: "file:///t/metadata/span.avro", length: 10 }, spec, [
      { ...existing("x", 1n), dataFile: file("x", 19_001) },
      { ...existing("y", 1n), dataFile: file("y", 19_009) }
    ], 900n, 5n)
    // day0 has a second manifest, and `span` two days: with the new one, 4 to count.
    const listed = [dayManifest("new", 19_000), dayManifest("again", 19_000), spanning, ...days]
    const foldable = (m: ManifestFile) => !m.manifestPath.endsWith("new.avro")
    assert.deepStrictEqual(paths(manifestsToMerge(listed, policy, foldable)), [["again.avro", "span.avro", "day0.avro"]])
    assert.deepStrictEqual(manifestsToMerge(listed.slice(1), policy), [])
  })

  it("merges once a snapshot would carry minCountToMerge manifests, not before", () => {
    const small = ["a", "b", "c", "d"].map((n) => manifestOf(n, 10))
    assert.deepStrictEqual(manifestsToMerge(small.slice(0, 3), policy), [])
    assert.deepStrictEqual(manifestsToMerge(small, policy).map((g) => g.map((m) => m.manifestPath)), [small.map((m) => m.manifestPath)])
  })

  it("leaves alone a manifest at the target size, and groups the rest by partition spec", () => {
    const ms = [manifestOf("a", 10), manifestOf("b", 1_000), manifestOf("c", 10), manifestOf("d", 10, 1), manifestOf("e", 10, 1)]
    assert.deepStrictEqual(
      manifestsToMerge(ms, policy).map((g) => g.map((m) => m.manifestPath)),
      [["file:///t/metadata/a.avro", "file:///t/metadata/c.avro"], ["file:///t/metadata/d.avro", "file:///t/metadata/e.avro"]]
    )
  })

  it("counts the manifests it may not fold towards the threshold, groups the others, and never one alone", () => {
    const ms = ["new", "a", "b", "unread", "c"].map((n) => manifestOf(n, 10))
    const foldable = (m: ManifestFile) => !m.manifestPath.includes("new") && !m.manifestPath.includes("unread")
    assert.deepStrictEqual(
      manifestsToMerge(ms, policy, foldable).map((g) => g.map((m) => m.manifestPath)),
      [["file:///t/metadata/a.avro", "file:///t/metadata/b.avro", "file:///t/metadata/c.avro"]]
    )
    // One left to fold (a, beside the new and the unread): nothing to merge it with.
    assert.deepStrictEqual(manifestsToMerge([...ms.slice(0, 2), ms[3]!, manifestOf("d", 1_000)], policy, foldable), [])
  })
})

describe("groupForMerge", () => {
  it("keeps every live entry, split past maxEntries, one partition per group", () => {
    const entries = Array.from({ length: 7 }, (_, i) => existing(`f${i}`, BigInt(i + 1)))
    const groups = groupForMerge(entries, 3, 900n)
    assert.deepStrictEqual(groups.map((g) => g.length), [3, 3, 1])
    assert.deepStrictEqual(groups.flat().map((e) => e.dataFile.filePath), entries.map((e) => e.dataFile.filePath))
    assert.isTrue(groups.flat().every((e) => e.status === ManifestEntryStatus.EXISTING))
  })

  it("keeps the committing snapshot's deletes (other engines look for removed files there) and drops older ones", () => {
    const mine = deletedEntry(existing("mine", 1n), 900n)
    const older = deletedEntry(existing("older", 1n), 800n)
    const groups = groupForMerge([mine, older, existing("live", 2n)], 100, 900n)
    assert.deepStrictEqual(groups.flat().map((e) => [e.dataFile.filePath, e.status]), [
      ["file:///t/data/mine.parquet", ManifestEntryStatus.DELETED],
      ["file:///t/data/live.parquet", ManifestEntryStatus.EXISTING]
    ])
  })
})

/**
 * Iceberg v2 manifests and manifest lists as Avro object container files
 * (apache/iceberg format/spec.md "Manifests", "Manifest Lists", Appendix A).
 *
 * Schemas mirror what Apache Iceberg Java 1.10 writes: record names `manifest_entry`,
 * `r2` (data_file), `r102` (partition), `k117_v118` (int-keyed maps as arrays of key/value
 * records with logicalType "map"), `manifest_file`, `r508` (field_summary), and a
 * `field-id` / `element-id` on every node. We write the container ourselves (header,
 * one deflate block) so encoding stays synchronous and the `avro.schema` header is
 * exactly our JSON, ids included; avsc only encodes and resolves the records.
 *
 * The container format is avroContainer.ts; the Avro schemas manifestAvroSchemas.ts and, per
 * partition spec, partitionAvroSchema.ts; the schemas K2 reads other writers' files with
 * manifestReaderSchemas.ts; the records manifestEntryRecords.ts and manifestListRecords.ts.
 */
import { Effect } from "effect"
import { CorruptFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { type ManifestEntry, type ManifestFile, ManifestEntryStatus, type PartitionSpec, type Schema } from "../../domain/iceberg/spec.ts"
import { decodeContainer, encodeContainer } from "./avroContainer.ts"
import { manifestEntrySchema, manifestFileSchema } from "./manifestAvroSchemas.ts"
import { manifestEntryFromAvro, manifestEntryToAvro } from "./manifestEntryRecords.ts"
import { manifestFileFromAvro, manifestFileToAvro } from "./manifestListRecords.ts"
import { avscPartitionNames, manifestReader, readingV1, V1_MANIFEST_FILE_DEFAULTS, writerPartition } from "./manifestReaderSchemas.ts"
import { partitionSchema } from "./partitionAvroSchema.ts"

/** Runs a decoder, turning whatever it throws into CorruptFile naming the path. */
const decoding = <A>(path: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e)
    throw new TableFileError({ reason: new CorruptFile({ path, detail }) })
  }
}

// ---------------------------------------------------------------------------
// Manifests

/** A v2 data manifest. Sequence numbers and snapshot ids stay null where entries inherit them. */
export const encodeManifest = (
  entries: ReadonlyArray<ManifestEntry>,
  ctx: { readonly schema: Schema; readonly spec: PartitionSpec }
): Uint8Array =>
  encodeContainer(
    manifestEntrySchema(partitionSchema(ctx.spec, ctx.schema)),
    {
      schema: JSON.stringify(ctx.schema),
      "schema-id": String(ctx.schema["schema-id"]),
      "partition-spec": JSON.stringify(
        ctx.spec.fields.map((f) => ({ name: f.name, transform: f.transform, "source-id": f["source-id"], "field-id": f["field-id"] }))
      ),
      "partition-spec-id": String(ctx.spec["spec-id"]),
      "format-version": "2",
      content: "data"
    },
    entries.map((e) => manifestEntryToAvro(e, ctx.spec))
  )

/** Synchronous `decodeManifest`; throws TableFileError (CorruptFile). */
export const decodeManifestSync = (bytes: Uint8Array, path: string): ReadonlyArray<ManifestEntry> =>
  decoding(path, () => {
    const { records, writerSchema } = decodeContainer(bytes, manifestReader, avscPartitionNames)
    // Java keeps the Iceberg name of a field whose name is not a valid Avro name in "iceberg-field-name".
    const partitionNames = writerPartition(writerSchema).fields.map((f): [string, string] => [f.name, String(f["iceberg-field-name"] ?? f.name)])
    return records.map((r) => manifestEntryFromAvro(r, partitionNames))
  })

export const decodeManifest = (bytes: Uint8Array, path: string): Effect.Effect<ReadonlyArray<ManifestEntry>, TableFileError> =>
  Effect.try({ try: () => decodeManifestSync(bytes, path), catch: (e) => e as TableFileError })

/**
 * Spec "Sequence Number Inheritance": a null snapshot id is the manifest's added snapshot;
 * null sequence numbers of ADDED entries are the manifest's sequence number. A manifest numbered 0
 * is format v1's, whose entries have no sequence numbers: every one's is 0 (as Java reads them).
 */
export const inheritSequenceNumbers = (
  entries: ReadonlyArray<ManifestEntry>,
  manifest: ManifestFile
): ReadonlyArray<ManifestEntry> =>
  entries.map((e) => {
    const inherited = e.status === ManifestEntryStatus.ADDED || manifest.sequenceNumber === 0n ? manifest.sequenceNumber : null
    return {
      ...e,
      snapshotId: e.snapshotId ?? manifest.addedSnapshotId,
      sequenceNumber: e.sequenceNumber ?? inherited,
      fileSequenceNumber: e.fileSequenceNumber ?? inherited
    }
  })

// ---------------------------------------------------------------------------
// Manifest lists

export const encodeManifestList = (
  files: ReadonlyArray<ManifestFile>,
  ctx: { readonly snapshotId: bigint; readonly parentSnapshotId: bigint | null; readonly sequenceNumber: bigint }
): Uint8Array =>
  encodeContainer(
    manifestFileSchema,
    {
      "snapshot-id": String(ctx.snapshotId),
      // String.valueOf(null) in Java: "null" when there is no parent.
      "parent-snapshot-id": String(ctx.parentSnapshotId),
      "sequence-number": String(ctx.sequenceNumber),
      "format-version": "2"
    },
    files.map(manifestFileToAvro)
  )

/** Synchronous `decodeManifestList`; throws TableFileError (CorruptFile). */
export const decodeManifestListSync = (bytes: Uint8Array, path: string): ReadonlyArray<ManifestFile> =>
  decoding(path, () =>
    decodeContainer(bytes, (writer) => readingV1(manifestFileSchema, writer, V1_MANIFEST_FILE_DEFAULTS)).records.map(manifestFileFromAvro)
  )

export const decodeManifestList = (bytes: Uint8Array, path: string): Effect.Effect<ReadonlyArray<ManifestFile>, TableFileError> =>
  Effect.try({ try: () => decodeManifestListSync(bytes, path), catch: (e) => e as TableFileError })

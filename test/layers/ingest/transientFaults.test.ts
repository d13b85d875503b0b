/** Which faults ingestion waits out, and which end the run at once (its records wait in Kafka). */
import { assert, describe, it } from "@effect/vitest"
import { CorruptFile, PathTooLong, StorageFailure, TableFileError, UnsupportedFormatVersion } from "../../../src/domain/iceberg/errors.ts"
import { isPermanent, isTransient } from "../../../src/layers/ingest/transientFaults.ts"
import { CatalogError, CatalogUnavailable, CommitStateUnknown } from "../../../src/services/Catalog.ts"
import { CallbackFailed, kafkaError, KafkaRejected, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"
import { UnsupportedTableFeature } from "../../../src/services/TableScanner.ts"

const v3 = new TableFileError({ reason: new UnsupportedFormatVersion({ table: "market_data.trades", path: "/m.json", formatVersion: 3 }) })

describe("ingest faults", () => {
  it("a table of a format version or feature K2 does not write is permanent, however the catalog reports it", () => {
    assert.isTrue(isPermanent(v3))
    assert.isTrue(isPermanent(new CatalogError({ reason: v3 })))
    assert.isTrue(isPermanent(new UnsupportedTableFeature({ table: "market_data.trades", feature: "bucket[16] of symbol" })))
    assert.isFalse(isTransient(new CatalogError({ reason: v3 })))
  })

  it("an unreachable catalog or a failing disk is waited out; a corrupt file is neither", () => {
    assert.isTrue(isTransient(new CatalogError({ reason: new CatalogUnavailable({ detail: "down" }) })))
    const disk = new TableFileError({ reason: new StorageFailure({ path: "/x", detail: "ENOSPC" }) })
    assert.isTrue(isTransient(disk))
    // The catalog writing the table's metadata.json met the same disk.
    assert.isTrue(isTransient(new CatalogError({ reason: disk })))
    const corrupt = new TableFileError({ reason: new CorruptFile({ path: "/x", detail: "bad" }) })
    assert.isFalse(isTransient(corrupt))
    assert.isFalse(isPermanent(corrupt))
    assert.isFalse(isTransient(new CatalogError({ reason: corrupt })))
  })

  it("a commit whose outcome stayed unknown restarts from the tables (which tell whether it landed), not the end of the run", () => {
    assert.isTrue(isTransient(new CatalogError({ reason: new CommitStateUnknown({ table: "market_data.trades", detail: "connection reset" }) })))
  })

  it("a broker fault is waited out as its error says: unreachable yes, refused no, a failed callback as its cause", () => {
    assert.isTrue(isTransient(kafkaError(new KafkaUnavailable({ operation: "fetch", detail: "connection refused" }))))
    assert.isFalse(isTransient(kafkaError(new KafkaRejected({ operation: "commit", detail: "not a member" }))))
    const unreachable = new CatalogError({ reason: new CatalogUnavailable({ detail: "down" }) })
    assert.isTrue(isTransient(kafkaError(new CallbackFailed({ callback: "onAssign", cause: unreachable }))))
    assert.isFalse(isTransient(kafkaError(new CallbackFailed({ callback: "onAssign", cause: new Error("a bug") }))))
    const corrupt = new CatalogError({ reason: new TableFileError({ reason: new CorruptFile({ path: "/x", detail: "bad" }) }) })
    assert.isFalse(isTransient(kafkaError(new CallbackFailed({ callback: "onAssign", cause: corrupt }))))
  })

  it("a path the file system refuses as too long is permanent, not waited out as a failing disk", () => {
    const long = new TableFileError({ reason: new PathTooLong({ path: `/w/${"d".repeat(300)}/x.parquet` }) })
    assert.isFalse(isTransient(long))
    assert.isFalse(isTransient(new CatalogError({ reason: long })))
    assert.isTrue(isPermanent(long))
    assert.isTrue(isPermanent(new CatalogError({ reason: long })))
  })
})

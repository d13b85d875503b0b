/**
 * Which faults pass and how long they are waited out (DESIGN.md: transient faults retry with
 * capped, jittered exponential backoff, classified by typed errors).
 */
import { Schedule } from "effect"
import { TableFileError } from "../../domain/iceberg/errors.ts"
import { CatalogError } from "../../services/Catalog.ts"
import type { IngestError } from "../../services/Ingestor.ts"
import { KafkaError } from "../../services/KafkaSource.ts"

/** Capped, jittered exponential backoff. */
export const backoff = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

/** Transient faults: the backoff, then the failure goes up. */
export const retrySchedule = backoff.pipe(Schedule.upTo({ times: 8 }))

/** Rejoining after a run failed: for as long as the fault lasts. */
export const reconnectSchedule = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("10 seconds")]).pipe(
  Schedule.jittered
)

/**
 * Faults that pass: the broker, the catalog or the disk is unreachable for a while (also when met
 * by the assignment callback, which the consumer reports as CallbackFailed). A storage failure
 * (I/O error, disk full) is the disk's; a missing or corrupt file is not waited out.
 */
export const isTransient = (e: IngestError): boolean =>
  e._tag === "KafkaError"
    ? e.reason._tag === "CallbackFailed"
      ? (e.reason.cause instanceof KafkaError || e.reason.cause instanceof CatalogError || e.reason.cause instanceof TableFileError) &&
        isTransient(e.reason.cause)
      : e.retryable
    : e._tag === "CatalogError"
    // A TableFileError here is the catalog writing the table's metadata file: the same disk.
    ? e.reason._tag === "CatalogUnavailable" || e.reason._tag === "CommitStateUnknown" ||
      (e.reason._tag === "TableFileError" && e.reason.reason._tag === "StorageFailure")
    : e._tag === "TableFileError" && e.reason._tag === "StorageFailure"

/**
 * Faults no restart clears: the table is in a state K2 cannot write (another engine changed its
 * partitioning or sort order, or upgraded it to format version 3). Restarting would re-read and fail every flush for ever; the run
 * ends with the error instead, and the records wait in Kafka.
 */
export const isPermanent = (e: IngestError): boolean => {
  const file = e._tag === "CatalogError" && e.reason._tag === "TableFileError" ? e.reason : e
  return e._tag === "UnsupportedTableFeature" || (file._tag === "TableFileError" && file.reason._tag === "UnsupportedFormatVersion")
}

/**
 * Which faults pass and how long they are waited out (DESIGN.md: transient faults retry with
 * capped, jittered exponential backoff, classified by typed errors).
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import { TableFileError } from "../../domain/iceberg/errors.ts"
import { CatalogError } from "../../services/Catalog.ts"
import type { IngestError } from "../../services/Ingestor.ts"
import { KafkaError } from "../../services/KafkaSource.ts"

/** A run this long after its last failure was healthy: the backoff after its next failure starts afresh. */
const HEALTHY = Duration.minutes(1)

/**
 * `schedule`, started afresh when the effect it retries ran for `healthy` since its last retry: a
 * failure long after a few early ones waits the first delay, not the cap (as a supervisor's user
 * expects; Effect's retry keeps a schedule's state for as long as it retries).
 */
const resettingAfter = <Output, Input, Error, Env>(
  schedule: Schedule.Schedule<Output, Input, Error, Env>,
  healthy: Duration.Input
): Schedule.Schedule<Output, Input, Error, Env> => {
  const healthyMs = Duration.toMillis(healthy)
  return Schedule.fromStep(Effect.map(Schedule.toStep(schedule), (first) => {
    let step = first
    /** When the last delay ended: the retried effect has run since. */
    let resumed: number | undefined
    return (now: number, input: Input) => {
      const fresh = resumed !== undefined && now - resumed >= healthyMs
        ? Effect.map(Schedule.toStep(schedule), (s) => void (step = s))
        : Effect.void
      return fresh.pipe(
        Effect.andThen(Effect.suspend(() => step(now, input))),
        Effect.map((out) => {
          resumed = now + Duration.toMillis(out[1])
          return out
        })
      )
    }
  }))
}

/** Capped, jittered exponential backoff. */
const backoff = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

/** A partition actor's restarts (its supervisor): the backoff, afresh after a healthy minute. */
export const supervisorBackoff = resettingAfter(backoff, HEALTHY)

/**
 * `once` retried on `schedule` (supervisorBackoff, which never ends) until `ends` says a failure is
 * the last: then interrupted. By hand, not by Effect.retry: that builds the schedule's state (~20
 * closures) when it starts, for every partition, and most never fail (docs/operations.md, "heap");
 * this builds it on a first failure. The delays are Effect.retry's (test/layers/ingest/supervision.test.ts).
 */
export const supervise = <E>(
  once: Effect.Effect<never, E>,
  schedule: Schedule.Schedule<unknown, E>,
  ends: (e: E) => boolean
): Effect.Effect<never> => {
  let step: Effect.Success<ReturnType<typeof Schedule.toStep<unknown, E, never, never>>> | undefined
  const supervised: Effect.Effect<never> = Effect.catch(once, (e) =>
    ends(e) ? Effect.interrupt : Effect.gen(function*() {
      step ??= yield* Schedule.toStep(schedule)
      const [, delay] = yield* step(yield* Clock.currentTimeMillis, e)
      yield* Effect.sleep(delay)
    }).pipe(
      // A schedule that never ends has no Done to fail with.
      Effect.orDie,
      Effect.andThen(Effect.suspend(() => supervised))
    ))
  return supervised
}

/** Transient faults: the backoff, then the failure goes up. */
export const retrySchedule = backoff.pipe(Schedule.upTo({ times: 8 }))

/** Rejoining after a run failed: for as long as the fault lasts. */
export const reconnectSchedule = resettingAfter(
  Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("10 seconds")]).pipe(Schedule.jittered),
  HEALTHY
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
 * partitioning or sort order, renamed or retyped a column K2 writes, or upgraded it to format
 * version 3), or the file system refuses its
 * paths as too long (the warehouse's), or a table's marker does not decode (MarkerUnreadable). Restarting would re-read and fail every flush for ever; the run
 * ends with the error instead, and the records wait in Kafka.
 */
export const isPermanent = (e: IngestError): boolean => {
  const file = e._tag === "CatalogError" && e.reason._tag === "TableFileError" ? e.reason : e
  return e._tag === "UnsupportedTableFeature" || e._tag === "MarkerUnreadable" ||
    (file._tag === "TableFileError" && (file.reason._tag === "UnsupportedFormatVersion" || file.reason._tag === "PathTooLong"))
}

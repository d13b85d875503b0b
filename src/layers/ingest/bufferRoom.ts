/**
 * Backpressure (ADR-11): a partition actor takes room in the buffers before it processes a batch
 * and waits while there is none; the flusher makes room. An actor waiting leaves its mailbox
 * full, which stalls fetching, so memory stays bounded whatever the backlog.
 */
import { Clock, Effect } from "effect"
import type { IngestCounters } from "./ingestProgress.ts"
import type { Partitions } from "./partitionState.ts"

/** What the buffers may hold: rows (and sequence events), and the heap they hold, estimated. */
export interface RoomLimits {
  readonly rows: number
  readonly bytes: number
}

export class BufferRoom {
  /**
   * Records (and their estimated bytes) of batches being processed now: counted with the buffers,
   * so that actors which pass the room check together cannot overshoot it by a batch each.
   */
  private inProcess = 0
  private inProcessBytes = 0

  private readonly parts: Partitions
  private readonly limits: RoomLimits
  /** Where the time spent waiting is added up. */
  private readonly counters: Pick<IngestCounters, "waitedForRoomMs">

  constructor(parts: Partitions, limits: RoomLimits, counters: Pick<IngestCounters, "waitedForRoomMs">) {
    this.parts = parts
    this.limits = limits
    this.counters = counters
  }

  /** Rows and sequence events waiting for a flush. */
  buffered(): number {
    let rows = 0
    for (const p of this.parts.values()) rows += p.rows.size + p.events.length
    return rows
  }

  /** The heap the rows waiting for a flush hold, estimated. */
  bufferedBytes(): number {
    let bytes = 0
    for (const p of this.parts.values()) bytes += p.bytes
    return bytes
  }

  /** Whether `records` more rows of `bytes` fit. A batch larger than the whole budget still goes through, alone. */
  private fits(records: number, bytes: number): boolean {
    // One pass over the partitions: every waiting actor asks every 5 ms.
    let load = this.inProcess
    let loadBytes = this.inProcessBytes
    for (const p of this.parts.values()) {
      load += p.rows.size + p.events.length
      loadBytes += p.bytes
    }
    return (load === 0 && loadBytes === 0) ||
      (load + records <= this.limits.rows && loadBytes + bytes <= this.limits.bytes)
  }

  /**
   * Runs `use` once the buffers have room for `records` more rows holding `bytes` (estimated). The
   * wait is the backpressure: time in it means the flushes, not Kafka, set the pace.
   */
  withRoom<A, E, R>(records: number, bytes: number, use: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Clock.clockWith((clock) =>
      Effect.suspend(() => {
        // The release is in place before the room is taken, and it gives back only what was
        // taken: an interruption at any point cannot leak room. Check and take are one step.
        let taken = 0
        let takenBytes = 0
        const take = Effect.sync(() => {
          if (!this.fits(records, bytes)) return false
          this.inProcess += records
          this.inProcessBytes += bytes
          taken = records
          takenBytes = bytes
          return true
        })
        const since = clock.currentTimeMillisUnsafe()
        const waitForRoom = take.pipe(
          Effect.delay("5 millis"),
          Effect.repeat({ until: (admitted) => admitted }),
          Effect.tap(() => Effect.sync(() => void (this.counters.waitedForRoomMs += clock.currentTimeMillisUnsafe() - since)))
        )
        return take.pipe(
          Effect.flatMap((admitted) => admitted ? use : Effect.andThen(waitForRoom, use)),
          Effect.ensuring(Effect.sync(() => {
            this.inProcess -= taken
            this.inProcessBytes -= takenBytes
          }))
        )
      })
    )
  }
}

/**
 * Backpressure (ADR-11): a partition actor takes room in the buffers before it processes a batch
 * and waits while there is none; the flusher makes room. An actor waiting leaves its mailbox
 * full, which stalls fetching, so memory stays bounded whatever the backlog.
 */
import { Clock, Effect } from "effect"
import type { IngestCounters } from "./ingestProgress.ts"
import type { Partitions } from "./partitionState.ts"

export class BufferRoom {
  /**
   * Records of batches being processed now: counted with the buffers, so that actors which pass
   * the room check together cannot overshoot it by a batch each.
   */
  private inProcess = 0

  private readonly parts: Partitions
  private readonly maxBufferedRows: number
  /** Where the time spent waiting is added up. */
  private readonly counters: Pick<IngestCounters, "waitedForRoomMs">

  constructor(parts: Partitions, maxBufferedRows: number, counters: Pick<IngestCounters, "waitedForRoomMs">) {
    this.parts = parts
    this.maxBufferedRows = maxBufferedRows
    this.counters = counters
  }

  /** Rows and sequence events waiting for a flush. */
  buffered(): number {
    let rows = 0
    for (const p of this.parts.values()) rows += p.rows.size + p.events.length
    return rows
  }

  /** Whether `records` more rows fit. A batch larger than the whole budget still goes through, alone. */
  private fits(records: number): boolean {
    const load = this.buffered() + this.inProcess
    return load === 0 || load + records <= this.maxBufferedRows
  }

  /**
   * Runs `use` once the buffers have room for `records` more rows. The wait is the backpressure:
   * time in it means the flushes, not Kafka, set the pace.
   */
  withRoom<A, E, R>(records: number, use: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Clock.clockWith((clock) =>
      Effect.suspend(() => {
        // The release is in place before the room is taken, and it gives back only what was
        // taken: an interruption at any point cannot leak room. Check and take are one step.
        let taken = 0
        const take = Effect.sync(() => {
          if (!this.fits(records)) return false
          this.inProcess += records
          taken = records
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
          Effect.ensuring(Effect.sync(() => void (this.inProcess -= taken)))
        )
      })
    )
  }
}

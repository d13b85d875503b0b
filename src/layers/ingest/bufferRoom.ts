/**
 * Backpressure (ADR-11): room in the buffers is taken for a batch before it goes to its partition's
 * actor, by the fetch loop, which waits while there is none (so fetching stalls); the actor gives
 * it back once the batch is in the buffers, and the flusher makes room. The batches waiting in
 * mailboxes are inside the room: before (ADR-57), each partition's actor took room itself, so a
 * batch in each mailbox and one in each actor waiting were outside it, ~2 x 256 KB a partition, and
 * 240 partitions with a backlog ran `npm run ingest` out of its heap.
 *
 * The room holds the rows waiting for a flush, and those a running flush took until they are
 * loaded into DuckDB (`hold`, ADR-91): the flush's first steps on the JS thread then run before
 * the actors decode more, and the actors decode while its COPY writes off the thread (the flushes
 * set the pace, ADR-14). So the rows held at once are up to twice the limits (the flush's being
 * written and the buffers filled meanwhile), plus the one batch the fetch loop holds waiting for
 * room and the client's fetches.
 */
import { type Clock, Effect, Exit } from "effect"
import { monotonicMillisOf } from "../elapsed.ts"
import type { IngestCounters } from "./ingestProgress.ts"
import type { Partitions } from "./partitionState.ts"

/** What the buffers may hold: rows (and sequence events), and the heap they hold, estimated. */
export interface RoomLimits {
  readonly rows: number
  readonly bytes: number
}

/** Room taken for one batch, held until it is given back (`release`, once; again is nothing). */
export interface Reservation {
  readonly records: number
  readonly bytes: number
}

/** A batch waiting for room: admitted, the room is taken for it, and it is woken. */
interface Waiter {
  readonly reservation: Reservation
  admitted: boolean
  wake: () => void
}

export class BufferRoom {
  /**
   * Records (and their estimated bytes) of batches being processed now: counted with the buffers,
   * so that actors which pass the room check together cannot overshoot it by a batch each.
   */
  private inProcess = 0
  private inProcessBytes = 0
  /** The reservations not given back yet: a release counts once, and a run's end gives back all. */
  private readonly held = new Set<Reservation>()
  /** Oldest first. Woken when room is made, not polling: each check is a pass over the partitions. */
  private readonly waiting = new Set<Waiter>()
  /** Up to when the waited time is counted. */
  private countedTo = 0

  private readonly parts: Partitions
  private readonly limits: RoomLimits
  private readonly counters: Pick<IngestCounters, "waitedForRoomMs">
  private readonly clock: Clock.Clock

  constructor(parts: Partitions, limits: RoomLimits, counters: Pick<IngestCounters, "waitedForRoomMs">, clock: Clock.Clock) {
    this.parts = parts
    this.limits = limits
    this.counters = counters
    this.clock = clock
  }

  /** Rows and sequence events waiting for a flush (not those a running flush took). */
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

  /**
   * Adds to `waitedForRoomMs` the time since it was last counted during which a batch waited: the
   * time the flushes held ingestion back, not actor-seconds. Called when waiting starts or stops,
   * and by whoever reads the figure, so a wait that has not ended yet shows.
   */
  countWaited(): void {
    // Monotonic: by a wall clock set back, the counter fell (a reset to Prometheus), set forward it leapt.
    const now = monotonicMillisOf(this.clock)
    if (this.waiting.size > 0) this.counters.waitedForRoomMs += now - this.countedTo
    this.countedTo = now
  }

  /**
   * Room may have been made (buffers taken by a flush or dropped, partitions gone, a batch done):
   * admits the waiters that fit now, oldest first.
   */
  roomMade(): void {
    this.admit(undefined)
  }

  /**
   * One pass over the partitions for the waiters, then `newcomer`, which waits if it does not fit.
   * Check and take are one step, on the one JS thread.
   */
  private admit(newcomer: Waiter | undefined): void {
    if (this.waiting.size === 0 && newcomer === undefined) return
    let load = this.inProcess
    let loadBytes = this.inProcessBytes
    for (const p of this.parts.values()) {
      load += p.rows.size + p.events.length
      loadBytes += p.bytes
    }
    const take = (w: Waiter): boolean => {
      const { bytes, records } = w.reservation
      // A batch larger than the whole budget still goes through, alone.
      const fits = (load === 0 && loadBytes === 0) ||
        (load + records <= this.limits.rows && loadBytes + bytes <= this.limits.bytes)
      if (!fits) return false
      load += records
      loadBytes += bytes
      this.inProcess += records
      this.inProcessBytes += bytes
      this.held.add(w.reservation)
      w.admitted = true
      return true
    }
    for (const w of this.waiting) {
      if (!take(w)) continue
      this.leave(w)
      w.wake()
    }
    if (newcomer !== undefined && !take(newcomer)) {
      this.countWaited()
      this.waiting.add(newcomer)
    }
  }

  private leave(w: Waiter): void {
    if (!this.waiting.has(w)) return
    this.countWaited()
    this.waiting.delete(w)
  }

  /**
   * Room for `records` more rows holding `bytes` (estimated), once the buffers have it: the wait is
   * the backpressure, time in it means the flushes, not Kafka, set the pace. Interrupted, it takes
   * nothing; the room it returns is held until `release`.
   */
  reserve(records: number, bytes: number): Effect.Effect<Reservation> {
    return Effect.suspend(() => {
      const waiter: Waiter = { reservation: { records, bytes }, admitted: false, wake: () => {} }
      // Admitted at once, or woken by `roomMade` (which takes the room for it first). Woken through
      // the scheduler: resumed with a plain value, its fiber would run on at once, inside whoever
      // made the room (a flush, a revoke, another batch's release, this very loop).
      const admission = Effect.callback<void>((resume) => {
        waiter.wake = () => resume(Effect.yieldNow)
        this.admit(waiter)
        if (waiter.admitted) resume(Effect.void)
      })
      return admission.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            this.leave(waiter)
            // Interrupted once admitted (before it resumed): what was taken goes back.
            if (Exit.isFailure(exit)) this.release(waiter.reservation)
          })
        ),
        Effect.as(waiter.reservation)
      )
    })
  }

  /** Takes room for rows already in hand (a flush's, until loaded), without waiting: held until `release`. */
  hold(records: number, bytes: number): Reservation {
    const reservation = { records, bytes }
    this.inProcess += records
    this.inProcessBytes += bytes
    this.held.add(reservation)
    return reservation
  }

  /** Gives a reservation's room back; a reservation given back already (or never admitted) gives nothing. */
  release(reservation: Reservation): void {
    if (!this.held.delete(reservation)) return
    this.inProcess -= reservation.records
    this.inProcessBytes -= reservation.bytes
    this.roomMade()
  }

  /** Gives back every reservation: a run's end, whose batches in flight are all gone. */
  releaseAll(): void {
    for (const reservation of [...this.held]) this.release(reservation)
  }
}

/**
 * The `batches` stream: what the client buffered, each batch accepted only if its partition is
 * still in the epoch it was fetched in (not sought, paused or revoked since) and started.
 */
import { Effect, Queue, Result, Stream } from "effect"
import type { Consumer, KafkaError, PartitionBatch, TpKey } from "../../services/KafkaSource.ts"
import type { PartState, Tagged } from "./consumerPartState.ts"

export const acceptedBatches = (queue: Queue.Queue<Tagged, KafkaError>, parts: Map<TpKey, PartState>): Consumer["batches"] => {
  const accept = (t: Tagged): Result.Result<PartitionBatch, undefined> => {
    const st = parts.get(t.key)
    if (st === undefined || st.epoch !== t.epoch || st.paused || st.starting) return Result.fail(undefined)
    st.deliveredPos = t.batch.nextOffset
    return Result.succeed(t.batch)
  }

  // The queue is emptied at once, as deep a read-ahead as before (a shallower one costs rate:
  // docs/benchmarks.md), but what it held is judged one batch per pull, when the reader asks for
  // it: a seek, pause or revoke made while it handled the previous batch discards what is held
  // behind (judging the whole chunk at once delivered them after the seek or onRevoke).
  const held: Array<Tagged> = []
  const takeAccepted = Effect.gen(function*() {
    for (;;) {
      if (held.length === 0) held.push(...(yield* Queue.takeAll(queue)))
      const accepted = accept(held.shift()!)
      if (Result.isSuccess(accepted)) return [accepted.success] as const
    }
  })

  return Stream.fromPull(Effect.succeed(takeAccepted))
}

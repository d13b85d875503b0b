/**
 * A memory consumer's fetch loop: each assigned partition's records from its fetch position, as
 * a broker's fetch gives them (from the log start when below it, an empty batch when everything
 * from the position on was deleted, startFrom again when beyond the log end).
 */
import { Effect } from "effect"
import { type SubscribeOptions, tpKeyOf } from "../../services/KafkaSource.ts"
import type { MemoryBroker } from "./memoryBroker.ts"
import { toKafkaError } from "./memoryErrors.ts"
import type { MemMember } from "./memoryGroups.ts"

/** Offers the member's partitions' records, `maxBatch` at most a batch, while `running()`; waits for a change when nothing moved. */
export const memoryFetchLoop = (
  broker: MemoryBroker,
  opts: Pick<SubscribeOptions, "startFrom">,
  member: MemMember,
  maxBatch: number,
  running: () => boolean
) => {
  const { core } = member
  return Effect.promise(async () => {
    while (running()) {
      let progressed = false
      for (const tp of member.assignment) {
        const key = tpKeyOf(tp)
        const pos = core.fetchPosition(key)
        if (pos === undefined) continue
        const t = broker.topics.get(tp.topic)
        const log = t?.partitions[tp.partition]
        // Deleted, or made again (its positions are the old log's): the rebalance that change
        // queued gives it up, or gains it afresh.
        if (t === undefined || log === undefined || member.topicIds.get(tp.topic) !== t.id) continue
        const base = t.base[tp.partition]!
        const end = base + log.length
        if (pos > BigInt(end)) {
          // Beyond the log end (a recreated topic): a broker answers OFFSET_OUT_OF_RANGE and
          // every client restarts at startFrom, as auto.offset.reset does; waiting would stall.
          const target = (opts.startFrom ?? "earliest") === "earliest" ? base : end
          await Effect.runPromise(Effect.ignore(core.consumer.seek(tp, BigInt(target))))
          progressed = true
          continue
        }
        // Every record from the position on was deleted (the log start is its end): an empty batch
        // moves the position to the log start, telling the records lost, as a broker's fetch
        // from the log start does (waiting for a record, the partition would lag for good).
        if (pos < BigInt(base) && log.length === 0) {
          progressed = true
          await core.offer(tp, pos, [], BigInt(base), BigInt(end), t.id, BigInt(base))
          if (!running()) return
          continue
        }
        // Nothing at or after the position: nothing to offer.
        if (pos >= BigInt(end)) continue
        // Below the low watermark (released records) the fetch starts at it.
        const start = Math.max(Number(pos) - base, 0)
        const records = log.slice(start, start + maxBatch)
        progressed = true
        // A position below the log start: the records between were deleted before they were read.
        await core.offer(tp, pos, records, BigInt(base + start + records.length), BigInt(end), t.id, pos < BigInt(base) ? BigInt(base) : undefined)
        if (!running()) return
      }
      if (!progressed) await broker.waitForChange(100)
    }
  }).pipe(
    // A fetch loop that breaks fails the consumer rather than stopping delivery unseen.
    Effect.catchDefect((e) => Effect.sync(() => core.fail(toKafkaError("fetch", e))))
  )
}

/**
 * An in-process Kafka: partitioned logs with offsets, consumer groups with committed offsets,
 * and rebalances when members join or leave or a consumed topic is created, grown or deleted
 * (round-robin over the sorted partitions; members that lose partitions run onRevoke before
 * anyone gets them, as with Kafka's eager protocol).
 * Fetch-from-offset semantics are exact. Share one `MemoryBroker` between layers (or between
 * two subscriptions in one test) to exercise rebalances. Opt-in, it can also drop what every
 * group has committed and hold producers back while consumers lag (`MemoryOptions`), which keeps
 * a long embedded feed in bounded memory.
 *
 * - Broker (memoryBroker.ts): MemoryBroker, MemoryLog's topics (memoryLog.ts: partitioned logs,
 *   offsets, a send's batches checked by memoryBatches.ts, records held as memoryRecords.ts reads
 *   them back) with consumer groups beside them (memoryGroups.ts: members, commits, rebalance rounds).
 * - Consumer (memoryConsumer.ts): a group member over consumerCore.ts, fed by memoryFetch.ts.
 * - Sink (memorySink.ts) and admin (memoryAdmin.ts); failures as KafkaError by memoryErrors.ts.
 */
import { Layer } from "effect"
import { KafkaAdmin, KafkaSink } from "../../services/KafkaSink.ts"
import { KafkaSource } from "../../services/KafkaSource.ts"
import { memoryAdmin, memoryMessageLimits } from "./memoryAdmin.ts"
import { MemoryBroker } from "./memoryBroker.ts"
import { memorySubscribe } from "./memoryConsumer.ts"
import { memorySink } from "./memorySink.ts"

export { MemoryBroker }

export interface MemoryOptions {
  /** Records per delivered batch at most. Default 500. */
  readonly maxBatchRecords?: number
  /**
   * Drop records once every group has committed past them, as retention would (offsets do not
   * change; a fetch below the low watermark starts at it). Off by default: tests re-read logs.
   */
  readonly releaseCommitted?: boolean
  /**
   * A send waits while a topic it writes has more records than this that its slowest live group
   * has not reached, by commit or fetch (a broker quota, in records). Default: no limit.
   */
  readonly maxBacklog?: number
}

/** KafkaSource, KafkaSink and KafkaAdmin over one MemoryBroker (a fresh one unless given). */
export const layerMemory = (broker: MemoryBroker = new MemoryBroker(), options: MemoryOptions = {}) => {
  const source = KafkaSource.of({ client: "memory", subscribe: memorySubscribe(broker, options) })
  const limits = memoryMessageLimits(broker)
  const sink = memorySink(broker, options, limits)
  const admin = memoryAdmin(broker, limits)

  return Layer.mergeAll(
    Layer.succeed(KafkaSource)(source),
    Layer.succeed(KafkaSink)(sink),
    Layer.succeed(KafkaAdmin)(admin)
  )
}

/**
 * KafkaSink on the in-memory broker: sends cut under their topics' max.message.bytes (batchBytes.ts)
 * and, with `maxBacklog`, held back while the slowest live group lags (MemoryBroker.backlog).
 */
import { Effect } from "effect"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import { inBatches } from "./batchBytes.ts"
import type { MemoryOptions } from "./memory.ts"
import type { MemoryBroker } from "./memoryBroker.ts"
import { guard } from "./memoryErrors.ts"
import type { MessageLimits } from "./messageLimits.ts"
import { tracedSend } from "./tracing.ts"

export const memorySink = (broker: MemoryBroker, options: MemoryOptions, limits: MessageLimits) => {
  const maxBacklog = options.maxBacklog

  const roomFor = (records: ReadonlyArray<ProducerRecord>) =>
    Effect.gen(function*() {
      if (maxBacklog === undefined) return
      for (const topic of new Set(records.map((r) => r.topic))) {
        // Commits and members leaving notify; the timeout re-checks whatever else changed.
        while (broker.backlog(topic) > maxBacklog) yield* Effect.promise(() => broker.waitForChange(100))
      }
    })

  return KafkaSink.of({
    client: "memory",
    // Requests under their topics' max.message.bytes, as the other layers send (batchBytes.ts).
    send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
      yield* roomFor(records)
      // A send refused may have written its other partitions' batches: their readers are woken too.
      return yield* guard("send", () => broker.produce(records)).pipe(Effect.ensuring(Effect.sync(() => broker.notify())))
    }), limits)),
    flush: () => Effect.void
  })
}

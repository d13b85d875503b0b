/**
 * Closing a Kafka client, waited for a few seconds at most. A broker alive but unresponsive (a
 * paused or GC-bound JVM) answers neither a LeaveGroup nor the requests in flight, and both
 * clients wait for those until their request timeouts (30 s under kafkajs, a member's session
 * timeout + 10 s under platformatic) before they close: a stop's drain, its rows already in the
 * tables, waited that long for nothing. Past the wait the close goes on in the background; the
 * broker drops a member that did not leave after its session timeout.
 */
import { Duration, Effect, Option } from "effect"

export const CLOSE_WAIT = Duration.seconds(5)

/** `close()` (its failure ignored), waited for CLOSE_WAIT at most; `client` names it in the warning past that. */
export const closeWithin = (client: string, close: () => Promise<unknown>) =>
  Effect.promise(() => close().catch(() => undefined)).pipe(
    Effect.timeoutOption(CLOSE_WAIT),
    Effect.flatMap((closed) =>
      Option.isSome(closed)
        ? Effect.void
        : Effect.logWarning(`the Kafka ${client} did not close within ${Duration.format(CLOSE_WAIT)} (a broker alive but unresponsive?): not waited for`)
    )
  )

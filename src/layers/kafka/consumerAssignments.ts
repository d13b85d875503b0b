/**
 * The client's (re)assignments, in order: what was lost goes to onRevoke, what was gained is paused
 * at once and started where `startOffsets` says, what was kept goes on exactly where delivery stopped.
 */
import { type Context, Effect } from "effect"
import { type KafkaError, type SubscribeOptions, type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { CallbackRun } from "./consumerCallbacks.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import { isKafkaError } from "./consumerErrors.ts"
import type { PartState } from "./consumerPartState.ts"
import type { StartOffsets } from "./consumerStartOffsets.ts"

export interface AssignmentsOf<E, R> {
  readonly options: SubscribeOptions<E, R>
  readonly context: Context.Context<R>
  readonly driver: ConsumerDriver
  readonly parts: Map<TpKey, PartState>
  readonly nextEpoch: () => number
  readonly run: CallbackRun<E, R>
  readonly startOffsets: StartOffsets
  readonly fail: (error: KafkaError) => void
  readonly errorOf: (operation: string, cause: unknown) => KafkaError
}

export interface Assignments {
  /** The client's new full assignment. The synchronous part (pausing what must not be fetched yet) runs before this returns. */
  readonly assign: (tps: ReadonlyArray<TopicPartition>) => Promise<void>
  /** The work of the assignments so far (onRevoke, onAssign, the seeks), settled when the last one is. */
  readonly inFlight: () => Promise<void>
}

export const makeAssignments = <E, R>(
  { context, driver, errorOf, fail, nextEpoch, options, parts, run, startOffsets }: AssignmentsOf<E, R>
): Assignments => {
  let chain: Promise<void> = Promise.resolve()

  const subscribed = new Set(options.topics)
  const assign = (assignedTps: ReadonlyArray<TopicPartition>): Promise<void> => {
    // A leader assigning with another assignor (an older K2's, a library's round robin) may hand
    // this member topics it does not subscribe to: they are left unread, as kafkajs leaves them,
    // not handed to onAssign (whose routing does not know them). They wait for the next assignment.
    const tps = assignedTps.filter((tp) => subscribed.has(tp.topic))
    if (tps.length < assignedTps.length) {
      const foreign = [...new Set(assignedTps.filter((tp) => !subscribed.has(tp.topic)).map((tp) => tp.topic))]
      Effect.runForkWith(context)(Effect.logWarning(
        `group ${options.groupId}: the leader assigned this member topics it does not subscribe to (${foreign.join(", ")}); ` +
          `left unread until the next rebalance. Members of one group with different topics need a leader of K2 with the subscription-aware assignor (docs/kafka.md)`
      ))
    }
    const next = new Map(tps.map((tp) => [tpKeyOf(tp), tp] as const))
    const lost: Array<TopicPartition> = []
    for (const [key, st] of parts) {
      if (!next.has(key)) {
        lost.push(st.tp)
        parts.delete(key)
      }
    }
    const gained: Array<TopicPartition> = []
    const gainedStates: Array<PartState> = []
    const kept: Array<PartState> = []
    for (const [key, tp] of next) {
      const st = parts.get(key)
      if (st === undefined) {
        gained.push(tp)
        const fresh: PartState = { tp, epoch: nextEpoch(), fetchPos: -1n, deliveredPos: -1n, paused: false, starting: true, strict: true, sought: false, announced: false }
        gainedStates.push(fresh)
        parts.set(key, fresh)
      } else {
        kept.push(st)
      }
    }
    // Synchronously: nothing gained is fetched before its start offset is known.
    if (gained.length > 0) driver.pause(gained)
    for (const st of kept) {
      // Clients may reset positions on a rebalance: continue exactly where delivery stopped.
      st.epoch = nextEpoch()
      st.strict = true
      if (!st.starting) {
        st.fetchPos = st.deliveredPos
        driver.seek(st.tp, st.deliveredPos)
      }
      if (st.paused || st.starting) driver.pause([st.tp])
    }
    const work = async () => {
      if (lost.length > 0 && options.onRevoke) await run(options.onRevoke(lost), "onRevoke")
      if (gained.length === 0) return
      // The previous assignments' onRevoke has returned: their workers are stopped.
      for (const st of gainedStates) if (parts.get(tpKeyOf(st.tp)) === st) st.announced = true
      const offsets = await startOffsets(gained)
      const toResume: Array<TopicPartition> = []
      for (const st of gainedStates) {
        const tp = st.tp
        // Lost again meanwhile; if gained once more, that assignment's onAssign (run after this
        // one) says where it starts, not this older answer.
        if (parts.get(tpKeyOf(tp)) !== st || !st.starting) continue
        const o = st.sought ? st.fetchPos : offsets.get(tpKeyOf(tp))!
        st.epoch = nextEpoch()
        st.fetchPos = o
        st.deliveredPos = o
        st.starting = false
        st.strict = true
        driver.seek(tp, o)
        if (!st.paused) toResume.push(tp)
      }
      if (toResume.length > 0) driver.resume(toResume)
    }
    chain = chain.then(work).catch((e) => fail(isKafkaError(e) ? e : errorOf("rebalance", e)))
    return chain
  }

  return { assign, inFlight: () => chain }
}

/**
 * KafkaSource on platformatic's consumer. Its MessagesStream has no per-partition seek or pause,
 * so it is not used: the member joins the group with `joinGroup()` (classic protocol, round robin
 * by subscription: assignor.ts; platformatic heartbeats and rejoins by itself and reports every new
 * assignment with `consumer:group:join`) and a fetch loop of our own fetches exactly the positions
 * the consumer core wants (platformaticFetchRound.ts). Positions therefore live only in
 * consumerCore.ts: seek / pause / resume need no client call. While the member is rejoining
 * (`consumer:group:rebalance`) nothing is fetched, so partitions about to move stop early (batches
 * already buffered are still delivered, as with kafkajs).
 */
import { Effect } from "effect"
import type { SubscribeOptions } from "../../services/KafkaSource.ts"
import { platformaticAssigner } from "./assignor.ts"
import { closeWithin } from "./closing.ts"
import { makeConsumerCore } from "./consumerCore.ts"
import type { ClientBase, Platformatic } from "./platformaticClients.ts"
import { attemptPlatformatic, fromPlatformatic } from "./platformaticErrors.ts"
import { type decompressingIn, type makeFetchParser, type PReader, rawFetchPool } from "./platformaticFetch.ts"
import { fetchRound, MAX_WAIT_TIME_MS } from "./platformaticFetchRound.ts"
import { commitOwned, committedOffsets, watermarksOf } from "./platformaticOffsets.ts"
import type { KafkaSecurity } from "./security.ts"
import { Wakeup } from "./wakeup.ts"

/**
 * Max bytes per fetch response, whatever the partitions: a response is decoded into records at once,
 * and at 64 MB (256 KB for each of 240 partitions with a backlog) that was more than `npm run
 * ingest`'s 256 MB heap (ADR-57). Above 24 partitions' 256 KB, so two topics of 12 fetch as before;
 * the broker's fetch session moves the partitions that returned data to the back, so none starves.
 */
const MAX_FETCH_BYTES = 8 * 1024 * 1024
/** Heartbeat interval of group members (ms), at most a third of the session timeout. */
const HEARTBEAT_MS = 3_000
/** How much longer than its session timeout a consumer's request is waited for: a JoinGroup may block for the whole rebalance timeout. */
export const JOIN_WAIT_MARGIN_MS = 10_000

export interface ConsumersOf {
  readonly lib: Pick<Platformatic, "Consumer" | "FetchIsolationLevels" | "ListOffsetTimestamps" | "findErrorBy">
  readonly base: ClientBase
  readonly security: KafkaSecurity | undefined
  /** Max bytes per partition per fetch. */
  readonly maxBytesPerPartition: number
  /** Fetch responses with their record batches as bytes, read by K2 (platformaticFetch.ts). */
  readonly fetchParser: ReturnType<typeof makeFetchParser>
  readonly decompressIn: ReturnType<typeof decompressingIn>
}

/** KafkaSource's subscribe: a group member until the scope closes. */
export const platformaticSubscribe = (of: ConsumersOf) => <E, R>(opts: SubscribeOptions<E, R>) =>
  Effect.gen(function*() {
    const { base, decompressIn, fetchParser, lib, maxBytesPerPartition, security } = of
    const sessionTimeout = opts.sessionTimeoutMs ?? 30_000
    const consumer = new lib.Consumer({
      ...base,
      clientId: opts.clientId ?? base.clientId,
      groupId: opts.groupId,
      autocommit: false,
      sessionTimeout,
      rebalanceTimeout: sessionTimeout,
      heartbeatInterval: Math.min(HEARTBEAT_MS, Math.floor(sessionTimeout / 3)),
      requestTimeout: sessionTimeout + JOIN_WAIT_MARGIN_MS,
      maxWaitTime: MAX_WAIT_TIME_MS,
      minBytes: 1,
      maxBytes: MAX_FETCH_BYTES,
      isolationLevel: lib.FetchIsolationLevels.READ_COMMITTED
    })
    const topics = [...opts.topics]
    // The consumer's own connections, its Fetch responses parsed by K2 (one pool: platformatic keeps a fetch session per pool).
    const fetchPool = rawFetchPool(() => consumer.connections as never, fetchParser as (c: number, k: number, v: number, r: PReader) => unknown)
    /** A failure of this member: a refusal names its group and topics. */
    const inGroup = (operation: string, cause: unknown, topic?: string) => fromPlatformatic(operation, cause, topic, security, { topics, group: opts.groupId })
    const groupOptions = {
      sessionTimeout,
      rebalanceTimeout: sessionTimeout,
      heartbeatInterval: Math.min(HEARTBEAT_MS, Math.floor(sessionTimeout / 3)),
      // Its round robin deals the leader's topics to every member: members of one group with
      // different --topics need an assignment by subscription (assignor.ts).
      partitionAssigner: platformaticAssigner
    }
    const member = { running: true, rejoining: false }
    const wakeup = new Wakeup()
    const wake = () => wakeup.wake()
    const sleep = (ms: number) => wakeup.sleep(ms)
    const watermarks = watermarksOf(consumer, lib.ListOffsetTimestamps)

    const core = yield* makeConsumerCore(opts, {
      // Positions live in the core: the fetch loop asks it for them on every fetch.
      seek: () => wake(),
      pause: () => undefined,
      resume: () => wake(),
      committed: (tps) => committedOffsets(consumer, tps),
      watermarks,
      commit: (offsets): Promise<void> => commitOwned(consumer, () => Effect.runSync(core.consumer.assignment), offsets)
    }, inGroup)

    consumer.on("consumer:group:rebalance", () => {
      member.rejoining = true
    })
    consumer.on("consumer:group:join", (payload) => {
      member.rejoining = false
      const tps = (payload.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })))
      void core.assign(tps)
      wake()
    })
    // A failed rejoin (retries exhausted) is emitted as 'error': without a listener it would throw.
    consumer.on("error", (e: unknown) => {
      if (member.running) core.fail(inGroup("rebalance", e, topics[0]))
    })

    /**
     * Partition counts of the subscribed topics as this member last saw them. The classic group
     * protocol rebalances only when a member asks: Java's consumer rejoins when its metadata
     * shows a subscribed topic grown; platformatic does not, so the new partitions stayed
     * unassigned (their records unread, their lag unseen) until a member came or went.
     */
    const knownCounts = new Map<string, number>()
    const grownSinceJoin = (metadata: { readonly topics: ReadonlyMap<string, { readonly partitionsCount: number }> }) => {
      let grown = false
      for (const topic of topics) {
        const n = metadata.topics.get(topic)?.partitionsCount
        if (n === undefined) continue
        const known = knownCounts.get(topic)
        if (known !== undefined && n > known) grown = true
        knownCounts.set(topic, n)
      }
      return grown
    }
    /** Joins again: the broker rebalances when the leader rejoins, and every member sees the growth. */
    const rejoin = () => {
      member.rejoining = true
      consumer.joinGroup(groupOptions).then(
        () => {
          member.rejoining = false
          wake()
        },
        (e: unknown) => {
          member.rejoining = false
          if (member.running) core.fail(inGroup("rebalance", e, topics[0]))
        }
      )
    }

    const fetchOnce = fetchRound({
      lib,
      consumer,
      core,
      fetchPool,
      decompressIn,
      topics,
      startFrom: opts.startFrom,
      maxBytesPerPartition,
      watermarks,
      member,
      rejoinIfGrown: (metadata) => {
        if (!grownSinceJoin(metadata)) return false
        rejoin()
        return true
      },
      classify: (cause) => inGroup("fetch", cause, topics[0])
    })

    const fetchLoop = async () => {
      let failures = 0
      while (member.running) {
        if (member.rejoining) {
          await sleep(50)
          continue
        }
        try {
          const fetched = await fetchOnce()
          failures = 0
          if (!fetched) await sleep(100)
        } catch (e) {
          if (!member.running) return
          const error = inGroup("fetch", e, topics[0])
          failures++
          // Transient trouble (leader moving, broker restarting): back off and fetch again,
          // for about a minute before the consumer fails.
          if (!error.retryable || failures > 12) {
            core.fail(error)
            return
          }
          consumer.clearMetadata()
          await sleep(Math.min(250 * 2 ** (failures - 1), 8_000))
        }
      }
    }

    // Finalizer before the fork: the fetch fiber is interrupted first, then the member leaves.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        member.running = false
        wake()
        await core.revokeAll()
      }).pipe(Effect.andThen(closeWithin("consumer", () => consumer.close(true))))
    )

    yield* attemptPlatformatic(security, opts.groupId)("subscribe", async () => {
      // Unknown topics fail here (the group would otherwise wait for their metadata).
      grownSinceJoin(await consumer.metadata({ topics }))
      consumer.topics.trackAll(...topics)
      await consumer.joinGroup(groupOptions)
    }, topics)
    yield* Effect.forkScoped(Effect.promise(() => fetchLoop().catch((e) => core.fail(inGroup("fetch", e, topics[0])))))
    return core.consumer
  })

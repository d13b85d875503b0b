/**
 * Publishing a MarketFeed to Kafka: Avro with Confluent framing, key = symbol, one topic per
 * (asset class, data type, exchange), instruments on their exchange's compacted reference topic,
 * poison payloads as they are. Counts every event Kafka acknowledged per symbol and type so the
 * ingested tables can be reconciled against what was sent, a failed run's included (`onFailure`).
 *
 * One send is in flight while the next batch is encoded: the producer's CPU work overlaps the
 * broker's, and sends never overlap, so each partition keeps the feed's order (a second send in
 * flight is not safe: platformatic's idempotent producer may reorder a retried batch).
 *
 * Headers: `k2-schema-id` on every value, and the run's `k2-correlation-id` (one value per
 * publish, so its bytes are encoded once: a unique value per record cost about a quarter of the
 * producer's CPU, and each trade and quote carries its message_id in the value anyway). Poison
 * records carry their own message_id instead: their payload has no id.
 */
import { Cause, Clock, Duration, Effect, Exit, Fiber, Schedule, Schema, Stream } from "effect"
import type { WireCodec } from "../../domain/avro/codec.ts"
import type { Instrument } from "../../domain/reference.ts"
import { type AssetClassName, type DataType, Header, instrumentsTopicName, topicName } from "../../domain/wire.ts"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaError } from "../../services/KafkaSource.ts"
import { type FeedEvent, type InjectedAnomaly, MarketFeed } from "../../services/MarketFeed.ts"
import { monotonicMillis } from "../elapsed.ts"

export interface PublishedCounts {
  trades: number
  quotes: number
  poison: number
  instruments: number
}

const COUNTED = ["trades", "quotes", "poison", "instruments"] as const
/** No record of any type. */
export const noCounts = (): PublishedCounts => ({ trades: 0, quotes: 0, poison: 0, instruments: 0 })
/** The records of every type in `c`. */
export const countOf = (c: PublishedCounts): number => c.trades + c.quotes + c.poison + c.instruments

/** Rows of a symbol the ingested tables should hold. */
export interface TableCounts {
  trades: number
  quotes: number
  instruments: number
}

/**
 * What the ingested tables should hold of a publish, per symbol: `published` less the copies the
 * feed sent as injected DUPLICATEs (its manifest lists each), which ingest's tracker drops. Poison
 * goes to the DLQ. Compared with `published` alone, a run with `--inject duplicate` looked short.
 */
export const tableCounts = (
  published: Readonly<Record<string, PublishedCounts>>,
  anomalies: ReadonlyArray<InjectedAnomaly>
): Record<string, TableCounts> => {
  const out: Record<string, TableCounts> = {}
  for (const [symbol, c] of Object.entries(published)) out[symbol] = { trades: c.trades, quotes: c.quotes, instruments: c.instruments }
  for (const a of anomalies) {
    const c = out[a.symbol]
    if (a.kind === "DUPLICATE" && c !== undefined) c[a.data_type]--
  }
  return out
}

export interface Reconciliation {
  /** symbol → type → records Kafka acknowledged (counted at the acknowledgment: a failed run's are exact too). */
  readonly published: Record<string, PublishedCounts>
  readonly totals: PublishedCounts
  readonly topics: ReadonlyArray<string>
  readonly instruments: ReadonlyArray<Instrument>
  /** The feed was stopped at `PublishOptions.stopAfter` before its end. */
  readonly stopped: boolean
  /**
   * Records sent again after their send failed with a fault that passes (a broker restarting):
   * some of them may have been written by the failed attempt. Whether the topics then hold them
   * twice is the client's idempotence (docs/kafka.md); `published` counts each once.
   */
  readonly resent: number
}

export interface PublishProgress {
  /** Events whose sends the broker acknowledged, the instruments among them included. */
  readonly events: number
  /** How many of `events` were instruments (a feed's reference data, sent first, not paced). */
  readonly instruments: number
  /** From the start of the run to the broker's acknowledgement of the last of them (monotonic: a wall clock stepped moves it not). */
  readonly elapsedMs: number
  /** When the broker acknowledged the last of them (Clock, epoch ms); the callback may come later. */
  readonly acknowledgedAt: number
}

export interface PublishOptions {
  /** Records per producer send. */
  readonly batchSize?: number
  /** Called after every acknowledged send (once the next batch is ready, or at the end). */
  readonly onProgress?: (progress: PublishProgress) => Effect.Effect<void>
  /** The `k2-correlation-id` of this run's records; a new UUID by default. */
  readonly correlationId?: string
  /** Stop the feed after this long: what it made by then is sent and acknowledged, then counted. */
  readonly stopAfter?: Duration.Input
  /** Stop the feed when this completes (a signal), as `stopAfter` does. */
  readonly stop?: Effect.Effect<void>
  /**
   * Once `stop` completes, how long the sends under way are waited for without Kafka acknowledging
   * any (counted from the stop or the last acknowledgment, whichever is later); then the run fails
   * with `SendsUnconfirmed` (a broker frozen, not answering). Unbounded when not given.
   */
  readonly drainTimeout?: Duration.Input
  /**
   * How long a send is waited for from its first attempt, sent again with capped, jittered backoff
   * after each failure with a fault that passes (the broker restarting); not taken by then, the run
   * fails (SendNotTaken), the attempt under way cut short. Infinite: as long as the fault lasts. Not
   * given: a failed send ends the run.
   */
  readonly resendFor?: Duration.Input
  /** Called when the run fails, before it fails: what it is known to have published (a failed run returns no Reconciliation). */
  readonly onFailure?: (failure: PublishFailure) => Effect.Effect<void>
}

/**
 * What a publish that failed is known to have done: `published` and `totals` Kafka acknowledged (in
 * the topics); `underWay` the records of the sends under way at the failure, handed to the client but
 * not acknowledged (some perhaps written). Records read from the feed but not yet handed over are in
 * neither.
 */
export interface PublishFailure {
  readonly published: Record<string, PublishedCounts>
  readonly totals: PublishedCounts
  readonly underWay: Record<string, PublishedCounts>
  readonly resent: number
  readonly message: string
}

/** Stopped, Kafka acknowledged none of the sends under way for the drain timeout: the broker is not answering. */
class SendsUnconfirmed extends Schema.TaggedError<SendsUnconfirmed>()("SendsUnconfirmed", {
  waitedMs: Schema.Number
}) {
  override get message() {
    return `stopped, and Kafka acknowledged none of the sends under way for ${this.waitedMs / 1000} s (a broker not answering): not waited for longer`
  }
}

/** Between attempts of a failed send: capped, jittered exponential backoff (as ingest's). */
const RESEND_BACKOFF = Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)
/** How often a send not acknowledged yet is said to be waited for. */
const STILL_WAITING_EVERY = "5 seconds"

/** A send Kafka neither took nor answered within `resendFor` from its first attempt, sent again meanwhile or not. */
class SendNotTaken extends Schema.TaggedError<SendNotTaken>()("SendNotTaken", {
  records: Schema.Number,
  waitedMs: Schema.Number,
  last: Schema.String
}) {
  override get message() {
    return `Kafka has not taken a send of ${this.records} records in the ${this.waitedMs / 1000} s it is waited for (last: ${this.last})`
  }
}

/**
 * Measured with `npm run bench -- produce`: about 1,000 records per send is the fastest; much
 * larger sends were slower with both clients (their per-send buffers outlive the young GC).
 */
const DEFAULT_BATCH_SIZE = 1_000

/**
 * `events` until `stop` completes: a pull under way then is interrupted, but a chunk it already
 * made is still emitted, and nothing is read ahead. (Stream.interruptWhen reads ahead into a
 * buffer it drops when stopped: events the feed had counted, and listed in its anomaly
 * manifest, were never sent.)
 */
const untilStopped = <A, E>(events: Stream.Stream<A, E>, stop: Effect.Effect<void>): Stream.Stream<A, E> =>
  Stream.transformPull(events, (pull, scope) =>
    Effect.map(Effect.forkIn(stop, scope, { startImmediately: true }), (stopping) =>
      Effect.suspend(() => {
        if (stopping.pollUnsafe() !== undefined) return Cause.done()
        return Effect.forkChild(pull, { startImmediately: true }).pipe(
          Effect.flatMap((pulling) =>
            Effect.raceFirst(
              Fiber.await(pulling),
              Fiber.await(stopping).pipe(Effect.andThen(Fiber.interrupt(pulling)), Effect.andThen(Fiber.await(pulling)))
            )
          ),
          Effect.flatMap((exit) => Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? Cause.done() : exit)
        )
      })))

export const publishFeed = Effect.fnUntraced(function*(codec: WireCodec, options: PublishOptions = {}) {
  const feed = yield* MarketFeed
  const producer = yield* KafkaSink
  // Elapsed time on the monotonic clock: by the wall clock, set back an hour, it went to minus an
  // hour (produce's progress then said nothing for that hour); acknowledgedAt stays a wall time.
  const started = yield* monotonicMillis
  const published: Record<string, PublishedCounts> = {}
  const totals = noCounts()
  const topics = new Set<string>()
  const instruments: Array<Instrument> = []
  const tradeSchemaId = String(codec.tradeSchemaId)
  const quoteSchemaId = String(codec.quoteSchemaId)
  const instrumentSchemaId = String(codec.instrumentSchemaId)
  const correlationId = options.correlationId ?? crypto.randomUUID()

  // The last topic of each data type: building names per event showed in profiles.
  const last: Record<string, { assetClass: string; exchange: string; topic: string }> = {}
  const topicOf = (assetClass: string, dataType: DataType | "instruments", exchange: string) => {
    const hit = last[dataType]
    if (hit !== undefined && hit.assetClass === assetClass && hit.exchange === exchange) return hit.topic
    const topic = dataType === "instruments"
      ? instrumentsTopicName(exchange)
      : topicName({ assetClass: assetClass as AssetClassName, dataType, exchange })
    last[dataType] = { assetClass, exchange, topic }
    topics.add(topic)
    return topic
  }

  /** The batch being encoded, per symbol; `published` gets it when Kafka acknowledges its send. */
  let batchCounts: Record<string, PublishedCounts> = {}
  const count = (symbol: string, type: keyof PublishedCounts) => {
    const entry = batchCounts[symbol] ?? (batchCounts[symbol] = noCounts())
    entry[type]++
  }
  const acknowledge = (counts: Record<string, PublishedCounts>) => {
    for (const [symbol, c] of Object.entries(counts)) {
      const entry = published[symbol] ?? (published[symbol] = noCounts())
      for (const type of COUNTED) {
        entry[type] += c[type]
        totals[type] += c[type]
      }
    }
  }

  const toRecord = (event: FeedEvent): ProducerRecord => {
    switch (event._tag) {
      case "Trade": {
        const t = event.trade
        count(t.symbol, "trades")
        return {
          topic: topicOf(t.asset_class, "trades", t.exchange),
          key: t.symbol,
          value: codec.encodeTrade(t),
          headers: { [Header.schemaId]: tradeSchemaId, [Header.correlationId]: correlationId }
        }
      }
      case "Quote": {
        const q = event.quote
        count(q.symbol, "quotes")
        return {
          topic: topicOf(q.asset_class, "quotes", q.exchange),
          key: q.symbol,
          value: codec.encodeQuote(q),
          headers: { [Header.schemaId]: quoteSchemaId, [Header.correlationId]: correlationId }
        }
      }
      case "Poison": {
        count(event.symbol, "poison")
        return {
          topic: topicOf(event.assetClass, event.dataType, event.exchange),
          key: event.symbol,
          value: event.payload,
          headers: { [Header.correlationId]: event.message_id }
        }
      }
      case "Instrument": {
        const i = event.instrument
        instruments.push(i)
        count(i.symbol, "instruments")
        return {
          topic: topicOf(i.asset_class, "instruments", i.exchange),
          key: i.symbol,
          value: codec.encodeInstrument(i),
          headers: { [Header.schemaId]: instrumentSchemaId, [Header.correlationId]: correlationId }
        }
      }
    }
  }

  let resent = 0
  const resendForMs = options.resendFor === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(options.resendFor))
  const limit = resendForMs !== undefined && Number.isFinite(resendForMs) ? `, giving up at ${Math.round(resendForMs / 1000)} s` : ""
  /**
   * `records` sent, and sent again after a fault that passes for up to `resendFor` from the
   * first attempt, saying so: a broker restarting is waited out rather than end the run.
   */
  const sendResending = (records: ReadonlyArray<ProducerRecord>) =>
    resendForMs === undefined ? producer.send(records) : Effect.gen(function*() {
      const began = yield* monotonicMillis
      const waitedSeconds = Effect.map(monotonicMillis, (now) => Math.floor((now - began) / 1000))
      let attempts = 0
      /** Whether the last failure is sent again: one that passes, within the wait. */
      let again = false
      let lastFailure: string | undefined
      const sending = Effect.suspend(() => {
        // Counted once a send, as its second attempt begins: its records, written by one failed
        // attempt or none, go again. Counted at the failure, a send cut in its backoff was said
        // to have gone again.
        if (attempts++ === 1) resent += records.length
        return producer.send(records)
      }).pipe(
        Effect.tapError((e) =>
          Effect.flatMap(monotonicMillis, (now) => {
            again = e.retryable && now - began < resendForMs
            lastFailure = e.message
            if (!again) return Effect.void
            return Effect.flatMap(waitedSeconds, (w) => Effect.logWarning(`waiting for Kafka to take a send of ${records.length} records (${w} s${limit}), sending it again: ${e.message}`))
          })
        ),
        Effect.retry({ schedule: RESEND_BACKOFF, while: () => again }),
        Effect.tap(() =>
          attempts === 1 ? Effect.void : Effect.flatMap(waitedSeconds, (w) =>
            Effect.logInfo(`Kafka took the send again after ${w} s (${attempts - 1} attempt${attempts === 2 ? "" : "s"} failed; ${resent} records sent again in this run)`))
        )
      )
      // The clients retry within an attempt by themselves (kafkajs for 30 s), saying nothing: said here.
      const sayWaiting: Effect.Effect<never> = Effect.sleep(STILL_WAITING_EVERY).pipe(
        Effect.andThen(waitedSeconds),
        Effect.flatMap((w) => Effect.logWarning(`waiting for Kafka to acknowledge a send of ${records.length} records (${w} s${limit})`)),
        Effect.forever
      )
      // The clients' own attempts last 30-40 s: the wait is cut at its end, not one attempt later.
      // Interrupted, the send may still be written: the failure counts it among those under way.
      const cut = Effect.sleep(Duration.millis(resendForMs)).pipe(
        Effect.andThen(Effect.suspend(() => Effect.fail(new SendNotTaken({ records: records.length, waitedMs: resendForMs, last: lastFailure ?? "no answer yet, its client still retrying" }))))
      )
      return yield* Effect.raceFirst(sending, Number.isFinite(resendForMs) ? Effect.raceFirst(sayWaiting, cut) : sayWaiting)
    })

  const acknowledgedNow = Effect.all({ wallMs: Clock.currentTimeMillis, monotonicMs: monotonicMillis })
  /** The send in flight; it ends with the time the broker acknowledged it. */
  let inflight: Fiber.Fiber<{ readonly wallMs: number; readonly monotonicMs: number }, KafkaError | SendNotTaken> | undefined
  /** The records of the send in flight per symbol, until Kafka acknowledges it: a failure's sends under way. */
  let underWay: Record<string, PublishedCounts> = {}
  /** When Kafka last acknowledged a send (monotonic), as it happened: a drain's wait counts from it. */
  let lastAcknowledgedMs = Number.NEGATIVE_INFINITY
  /** Waits for the send in flight; then everything handed over so far is acknowledged. */
  const settle = Effect.gen(function*() {
    if (inflight === undefined) return
    // Told when it happened, not when it is seen: that is when the next batch is ready, up to
    // the batching window later (a freshness measured from here came out that much too short).
    const { wallMs: acknowledgedAt, monotonicMs } = yield* Fiber.join(inflight)
    inflight = undefined
    if (options.onProgress !== undefined) {
      // Every send so far is counted in `totals` once the last is joined (each counts itself as it is acknowledged).
      yield* options.onProgress({ events: countOf(totals), instruments: totals.instruments, elapsedMs: monotonicMs - started, acknowledgedAt })
    }
  })

  let stopped = false
  const stop = Effect.race(
    options.stopAfter === undefined ? Effect.never : Effect.sleep(options.stopAfter),
    options.stop ?? Effect.never
  ).pipe(Effect.andThen(Effect.sync(() => void (stopped = true))))
  const run = untilStopped(feed.events(), stop).pipe(
    // Full batches when the feed runs ahead; whatever came within 50 ms when it is paced (--rate),
    // so records leave as they are made rather than once a batch fills.
    Stream.groupedWithin(options.batchSize ?? DEFAULT_BATCH_SIZE, "50 millis"),
    Stream.runForEach((chunk) =>
      Effect.gen(function*() {
        const records = new Array<ProducerRecord>(chunk.length)
        batchCounts = {}
        for (let i = 0; i < chunk.length; i++) records[i] = toRecord(chunk[i]!)
        const counts = batchCounts
        yield* settle
        underWay = counts
        // Counted as Kafka acknowledges it, not when it is next waited for: a failure (or a drain cut)
        // meanwhile would count an acknowledged send as one under way.
        inflight = yield* Effect.forkChild(Effect.andThen(sendResending(records), acknowledgedNow).pipe(
          Effect.tap(({ monotonicMs }) =>
            Effect.sync(() => {
              lastAcknowledgedMs = monotonicMs
              acknowledge(counts)
              underWay = {}
            })
          )
        ))
      })
    ),
    Effect.andThen(settle),
    Effect.andThen(producer.flush())
  )
  // A frozen broker answers no send: the clients wait out their request timeouts and retries
  // (platformatic's 30 s times 9: minutes), and a stopped run waited that long, saying nothing.
  // The wait counts from the stop or from Kafka's last acknowledgment, whichever is later: a slow
  // broker that answers each send (a batch made while the last was under way still goes after
  // it) is drained whole; only one that answers nothing for that long is given up on.
  const drainTimeout = options.drainTimeout
  const bounded = drainTimeout === undefined || options.stop === undefined ? run : Effect.raceFirst(
    run,
    options.stop.pipe(
      Effect.andThen(monotonicMillis),
      Effect.flatMap((stoppedAt) => {
        const waitMs = Duration.toMillis(Duration.fromInputUnsafe(drainTimeout))
        const silence: Effect.Effect<void> = Effect.suspend(() =>
          Effect.flatMap(monotonicMillis, (now) => {
            const left = Math.max(stoppedAt, lastAcknowledgedMs) + waitMs - now
            return left <= 0 ? Effect.void : Effect.sleep(Duration.millis(left)).pipe(Effect.andThen(silence))
          })
        )
        return silence.pipe(Effect.andThen(Effect.fail(new SendsUnconfirmed({ waitedMs: waitMs }))))
      })
    )
  )
  yield* bounded.pipe(
    // A failed run returns no counts: what reached Kafka before it is said here, and given to onFailure.
    Effect.tapError((e) =>
      Effect.suspend(() => {
        // Copies: a send under way when a feed error ends the run is interrupted only after this.
        const failure: PublishFailure = { published: structuredClone(published), totals: { ...totals }, underWay: structuredClone(underWay), resent, message: e.message }
        const underWayRecords = Object.values(underWay).reduce((n, c) => n + countOf(c), 0)
        return Effect.logError(
          `publishing failed with ${countOf(totals)} events acknowledged by Kafka (in the topics); ` +
            `${underWayRecords} more were in the sends under way, some of them perhaps written` +
            `${resent > 0 ? `; ${resent} records were sent again after failed sends` : ""}: ${e.message}`
        ).pipe(Effect.andThen(options.onFailure?.(failure) ?? Effect.void))
      })
    )
  )
  // A stop while the feed, having given its last event, was finding it had no more: nothing was cut.
  if (stopped && (yield* feed.summary).complete) stopped = false
  return { published, totals, topics: [...topics].sort(), instruments, stopped, resent } satisfies Reconciliation
})

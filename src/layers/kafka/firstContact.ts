/**
 * Waiting for Kafka at start. Brokers that have never answered since the program started are
 * most likely a wrong address (a typo in the port): they are waited for a bounded time, then the
 * program fails saying so. Once a broker has answered, an outage is a broker restarting, and is
 * waited out as before (DESIGN.md: ingestion recovers by itself).
 */
import { Duration, Effect, Schedule, Schema } from "effect"
import { KafkaError } from "../../services/KafkaSource.ts"
import type { KafkaAdmin } from "../../services/KafkaSink.ts"
import type { TopicSpec } from "../../domain/wire.ts"
import { monotonicMillis } from "../elapsed.ts"

/** No broker of the list answered within the first-contact wait. */
export class BrokersUnreachable extends Schema.TaggedError<BrokersUnreachable>()("BrokersUnreachable", {
  brokers: Schema.Array(Schema.String),
  waitedSeconds: Schema.Number,
  /** The setting that bounds the wait, as the user gives it (flag and variable). */
  setting: Schema.String,
  /** The last failure met. */
  detail: Schema.String
}) {
  override get message() {
    return `no Kafka broker answered at ${this.brokers.join(",")} in the ${this.waitedSeconds} s since the first attempt ` +
      `(last: ${this.detail}). Check the address (--brokers, K2_KAFKA_BROKERS) and that Kafka runs there; ` +
      `${this.setting} sets how long a first contact is waited for`
  }
}

/**
 * A broker answered (the address is right), but the start kept failing with a fault that passes
 * (topics not made: a controller or leaders not ready) until the first-contact wait ran out.
 */
export class KafkaNotReady extends Schema.TaggedError<KafkaNotReady>()("KafkaNotReady", {
  brokers: Schema.Array(Schema.String),
  waitedSeconds: Schema.Number,
  /** The setting that bounds the wait, as the user gives it (flag and variable). */
  setting: Schema.String,
  /** The last failure met. */
  detail: Schema.String
}) {
  override get message() {
    return `Kafka answered at ${this.brokers.join(",")}, but the start still failed ${this.waitedSeconds} s after the first attempt: ` +
      `${this.detail}. ${this.setting} sets how long a first contact is waited for`
  }
}

export interface FirstContactOptions {
  readonly brokers: ReadonlyArray<string>
  /** How long brokers never reached are waited for; 0: as long as an outage. */
  readonly wait: Duration.Input
  /** The flag and variable of `wait`, named in the failure. */
  readonly setting: string
}

export type FirstContact = Effect.Success<ReturnType<typeof makeFirstContact>>

const isKafkaFault = (e: unknown): e is KafkaError => e instanceof KafkaError && e.retryable

/** How often an attempt that has had no answer yet, before any contact, is said to be waiting. */
const STILL_WAITING_EVERY = "5 seconds"

/** Whether an attempt's failure is worth another one (the clients say so of theirs). */
const retryable = (e: unknown): boolean => (e as { readonly retryable?: unknown } | undefined)?.retryable === true

/** The wait for a first contact, its clock started by the first attempt. */
export const makeFirstContact = Effect.fnUntraced(function*(options: FirstContactOptions) {
  // From the first attempt, not from now: what the program does before it (loading the client
  // library, building its layers: seconds on a loaded machine) is not the brokers' time, and used
  // up a short wait before a broker could say anything (a TLS listener's "wants TLS" came too late).
  // Monotonic: a clock set back an hour meanwhile waited an hour more, one set forward gave up at once.
  let started: number | undefined = undefined
  const waitMs = Duration.toMillis(options.wait)
  let reached = false
  /** A broker answered a request of an attempt (the address is right), the start not done yet. */
  let answered = false
  /** The last retryable failure of any attempt: named when the wait runs out. */
  let last: unknown = undefined
  /** The last failure the client of the attempt under way said it met and retries by itself. */
  let met: string | undefined = undefined
  const elapsedMs = Effect.map(monotonicMillis, (now) => now - (started ??= now))
  const seconds = (ms: number) => Math.round(ms / 1000)
  /** Whether the brokers are what is waited for now: not yet reached, with a bound. */
  const bounded = () => !reached && waitMs > 0

  // Once a broker answered, what failed is the start itself, not the address: said so, with the last failure.
  const unreachable = (ms: number, detail: string) =>
    answered
      ? new KafkaNotReady({ brokers: options.brokers, waitedSeconds: seconds(ms), setting: options.setting, detail })
      : new BrokersUnreachable({ brokers: options.brokers, waitedSeconds: seconds(ms), setting: options.setting, detail })

  /** Another attempt after `e`: a broker fault before any contact only within the wait. */
  const keepWaiting = (e: unknown): Effect.Effect<boolean> =>
    reached || waitMs === 0 || !isKafkaFault(e) ? Effect.succeed(true) : Effect.map(elapsedMs, (ms) => ms < waitMs)

  /** How long the brokers have been waited for so far, before any contact. */
  const notReachedYet = (ms: number) =>
    // Whole seconds passed: rounded, 4.6 s of a 5 s wait would read as "5 s, giving up at 5 s".
    ` at ${options.brokers.join(",")} (${answered ? "answered, not ready yet" : "not reached yet"}: ${Math.floor(ms / 1000)} s${waitMs === 0 ? "" : `, giving up at ${seconds(waitMs)} s`})`

  /** What a warning says of the wait: how long so far, before any contact. */
  const progress = (e: unknown): Effect.Effect<string> =>
    reached || !isKafkaFault(e) ? Effect.succeed("") : Effect.map(elapsedMs, notReachedYet)

  const again = (e: unknown): Effect.Effect<boolean> => retryable(e) ? keepWaiting(e) : Effect.succeed(false)

  /** Retries in progress, one inside another (the start's inside the run's): the innermost keeps the bound. */
  let depth = 0

  /**
   * At the end of the wait, before any contact: BrokersUnreachable, from the attempt of retry
   * `level` under way. Not while a retry inside it is (its own attempts and spacing keep the
   * bound), nor while another fault is waited out (a schema registry down: its own limits).
   */
  const giveUp = (level: number): Effect.Effect<never, BrokersUnreachable | KafkaNotReady> =>
    Effect.suspend(() =>
      !bounded() || depth > level || (last !== undefined && !isKafkaFault(last))
        ? Effect.never
        : Effect.flatMap(elapsedMs, (ms) => {
          const failed = last === undefined ? undefined : (last as Error).message
          // What the attempt in progress met, unless the last failure says it already.
          const retrying = met === undefined || failed?.includes(met) ? "" : `, its client retrying after: ${met}`
          const inProgress = `an attempt still in progress${retrying}`
          return Effect.fail(unreachable(ms, failed === undefined ? inProgress : `${failed}; then ${inProgress}`))
        })
    )

  /**
   * Never ends: every few seconds, while no broker has answered yet and retry `level` is the
   * innermost under way, says that an attempt is still waiting. A broker alive but frozen keeps
   * its connections open and answers nothing, so the attempt neither fails (which is said) nor ends.
   */
  const sayStillWaiting = (level: number): Effect.Effect<never> =>
    Effect.sleep(STILL_WAITING_EVERY).pipe(
      Effect.andThen(Effect.suspend(() =>
        reached || depth !== level
          ? Effect.void
          : Effect.flatMap(elapsedMs, (ms) =>
            Effect.logWarning(`waiting for Kafka${notReachedYet(ms)}: ${answered ? "an attempt still under way" : "no answer yet"}`))
      )),
      Effect.forever
    )

  /**
   * `attempt` cut short when the wait runs out, not one attempt later (a client's connect retries
   * by itself for seconds). Interrupted, the attempt's scope closes what it opened.
   */
  const withinWait = <A, E, R>(attempt: Effect.Effect<A, E, R>, level: number): Effect.Effect<A, E | BrokersUnreachable | KafkaNotReady, R> =>
    Effect.suspend(() => {
      // What an earlier attempt's client met is that attempt's: its failure, if any, says it.
      met = undefined
      const said = reached ? attempt : Effect.raceFirst(attempt, sayStillWaiting(level))
      return !bounded() ? said : Effect.flatMap(elapsedMs, (ms) =>
        // The attempt first: one that ends at once (due at the end of the wait) is its own outcome.
        Effect.raceFirst(said, Effect.andThen(Effect.sleep(Math.max(0, waitMs - ms)), giveUp(level))))
    })

  /** Between attempts, no sleep past the end of the wait while the brokers are waited for. */
  const spacedWithin = (spacing: Duration.Input) =>
    Schedule.spaced(spacing).pipe(Schedule.modifyDelay(({ duration, input }) =>
      !bounded() || !isKafkaFault(input)
        ? Effect.succeed(duration)
        : Effect.map(elapsedMs, (ms) => Duration.min(duration, Duration.millis(Math.max(0, waitMs - ms))))
    ))

  const markReached = Effect.sync(() => {
    reached = true
  })
  const markAnswered = Effect.sync(() => {
    answered = true
  })

  return {
    /** A broker answered: from now on, outages are waited out. */
    reached: markReached,
    /**
     * A broker answered a request of the attempt under way (its topics listed): the address is
     * right. The wait keeps its bound, but running out it says the start failed, not that no
     * broker answered (a wrong address).
     */
    answered: markAnswered,
    /**
     * A start's Kafka step: the topics listed (a broker answered), then made, then the brokers
     * reached. `produce` and `ingest` alike, inside `retry`.
     */
    topicsReady: (admin: KafkaAdmin["Service"], specs: ReadonlyArray<TopicSpec>) =>
      admin.listTopics().pipe(Effect.andThen(markAnswered), Effect.andThen(admin.ensureTopics(specs)), Effect.andThen(markReached)),
    /**
     * A failure the client of the attempt under way met and retries by itself, as it says it
     * (kafkajs logs each refused connect of a connect() it retries for seconds): named if the wait
     * runs out in that attempt, which has not failed yet.
     */
    clientError: (message: string): void => {
      met = message
    },
    /**
     * `attempt` again after a retryable failure, `spacing` apart, at most `times` more, saying so
     * (`waiting`: what the warning starts with); a broker fault before any contact only for the
     * wait, then BrokersUnreachable, at the end of the wait even with an attempt under way.
     * Retries of one contact nest (the start's inside the run's), never side by side.
     */
    retry: <A, E, R>(attempt: Effect.Effect<A, E, R>, waiting: string, spacing: Duration.Input, times: number) =>
      Effect.suspend(() => {
        const level = ++depth
        // Failures of this run: the one that uses up `times` is said only as the failure.
        let failures = 0
        return withinWait(attempt, level).pipe(
          Effect.tapError((e) =>
            Effect.flatMap(again(e), (yes) => {
              if (retryable(e)) last = e
              return yes && ++failures <= times
                ? Effect.flatMap(progress(e), (wait) => Effect.logWarning(`${waiting}${wait}: ${(e as Error).message}`))
                : Effect.void
            })
          ),
          Effect.retry({ schedule: spacedWithin(spacing), while: again, times })
        )
      }).pipe(
        // Only past the wait: a fault that outlasted the attempts within it goes up as it is.
        Effect.catchIf(
          (e): e is E & KafkaError => bounded() && isKafkaFault(e),
          (e) => Effect.flatMap(elapsedMs, (ms) => Effect.fail(ms < waitMs ? e : unreachable(ms, e.message)))
        ),
        Effect.ensuring(Effect.sync(() => void depth--))
      )
  }
})

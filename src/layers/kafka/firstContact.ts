/**
 * Waiting for Kafka at start. Brokers that have never answered since the program started are
 * most likely a wrong address (a typo in the port): they are waited for a bounded time, then the
 * program fails saying so. Once a broker has answered, an outage is a broker restarting, and is
 * waited out as before (DESIGN.md: ingestion recovers by itself).
 */
import { Clock, Duration, Effect, Schedule, Schema } from "effect"
import { KafkaError } from "../../services/KafkaSource.ts"

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
    return `no Kafka broker answered at ${this.brokers.join(",")} in the ${this.waitedSeconds} s since the start ` +
      `(last: ${this.detail}). Check the address (--brokers, K2_KAFKA_BROKERS) and that Kafka runs there; ` +
      `${this.setting} sets how long a first contact is waited for`
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

/** Whether an attempt's failure is worth another one (the clients say so of theirs). */
const retryable = (e: unknown): boolean => (e as { readonly retryable?: unknown } | undefined)?.retryable === true

/** The wait for a first contact, started now. */
export const makeFirstContact = Effect.fnUntraced(function*(options: FirstContactOptions) {
  const started = yield* Clock.currentTimeMillis
  const waitMs = Duration.toMillis(options.wait)
  let reached = false
  const elapsedMs = Effect.map(Clock.currentTimeMillis, (now) => now - started)
  const seconds = (ms: number) => Math.round(ms / 1000)

  /** Another attempt after `e`: a broker fault before any contact only within the wait. */
  const keepWaiting = (e: unknown): Effect.Effect<boolean> =>
    reached || waitMs === 0 || !isKafkaFault(e) ? Effect.succeed(true) : Effect.map(elapsedMs, (ms) => ms < waitMs)

  /** What a warning says of the wait: how long so far, before any contact. */
  const progress = (e: unknown): Effect.Effect<string> =>
    reached || !isKafkaFault(e)
      ? Effect.succeed("")
      : Effect.map(elapsedMs, (ms) =>
        ` at ${options.brokers.join(",")} (not reached yet: ${seconds(ms)} s${waitMs === 0 ? "" : `, giving up at ${seconds(waitMs)} s`})`)

  const again = (e: unknown): Effect.Effect<boolean> => retryable(e) ? keepWaiting(e) : Effect.succeed(false)

  return {
    /** A broker answered: from now on, outages are waited out. */
    reached: Effect.sync(() => {
      reached = true
    }),
    /**
     * `attempt` again after a retryable failure, `spacing` apart, at most `times` more, saying so
     * (`waiting`: what the warning starts with); a broker fault before any contact only for the
     * wait, then BrokersUnreachable.
     */
    retry: <A, E, R>(attempt: Effect.Effect<A, E, R>, waiting: string, spacing: Duration.Input, times: number) =>
      Effect.suspend(() => {
        // Failures of this run: the one that uses up `times` is said only as the failure.
        let failures = 0
        return attempt.pipe(
          Effect.tapError((e) =>
            Effect.flatMap(again(e), (yes) =>
              yes && ++failures <= times
                ? Effect.flatMap(progress(e), (wait) => Effect.logWarning(`${waiting}${wait}: ${(e as Error).message}`))
                : Effect.void)
          ),
          Effect.retry({ schedule: Schedule.spaced(spacing), while: again, times })
        )
      }).pipe(
        // Only past the wait: a fault that outlasted the attempts within it goes up as it is.
        Effect.catchIf(
          (e): e is E & KafkaError => !reached && waitMs > 0 && isKafkaFault(e),
          (e) =>
            Effect.flatMap(elapsedMs, (ms) =>
              Effect.fail(
                ms < waitMs
                  ? e
                  : new BrokersUnreachable({ brokers: options.brokers, waitedSeconds: seconds(ms), setting: options.setting, detail: e.message })
              ))
        )
      )
  }
})

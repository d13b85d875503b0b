/**
 * Waiting for Kafka at start (TestClock, a fake admin): brokers never reached since the start are
 * waited for the first-contact wait, then BrokersUnreachable names them and the setting; once a
 * broker answered, an outage is waited out as long as before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Logger } from "effect"
import { TestClock } from "effect/testing"
import { BrokersUnreachable, type FirstContact, KafkaNotReady, makeFirstContact } from "../../../src/layers/kafka/firstContact.ts"
import { kafkaError, KafkaRejected, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

const BROKERS = ["127.0.0.1:9099"]
const SETTING = "--broker-wait (K2_KAFKA_BROKER_WAIT_SECONDS)"
const refused = kafkaError(new KafkaUnavailable({ operation: "listTopics", detail: "ECONNREFUSED 127.0.0.1:9099" }))

/** As `npm run ingest --brokers` starts: the topics ensured (the first contact), then the run, each retried. */
const start = (contact: FirstContact, ensureTopics: Effect.Effect<void, unknown>, run: Effect.Effect<void, unknown>) =>
  contact.retry(
    Effect.andThen(
      contact.retry(Effect.andThen(ensureTopics, contact.reached), "waiting for Kafka", "2 seconds", 150),
      run
    ),
    "cannot start yet",
    "3 seconds",
    100
  )

describe("the first contact with Kafka", () => {
  it.effect("brokers never reached fail the start after the wait, naming the brokers and the setting", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      let attempts = 0
      const fiber = yield* Effect.forkChild(start(contact, Effect.suspend(() => (attempts++, Effect.fail(refused))), Effect.void))
      yield* TestClock.adjust("58 seconds")
      assert.isUndefined(fiber.pollUnsafe(), "gave up before the wait")
      yield* TestClock.adjust("4 seconds")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.findErrorOption(exit)
      assert.isTrue(error._tag === "Some" && error.value instanceof BrokersUnreachable, String(exit))
      const unreachable = (error as { value: BrokersUnreachable }).value
      // Given up at the wait itself (60 s), not one attempt later.
      assert.strictEqual(unreachable.waitedSeconds, 60)
      const message = unreachable.message
      assert.include(message, "127.0.0.1:9099")
      assert.include(message, SETTING)
      assert.include(message, "ECONNREFUSED")
      // Tried all along the wait (every 2 s), and not again from the top: the start gives up at once.
      assert.strictEqual(attempts, 31)
    }))

  it.effect("the wait starts with the first attempt, not when the program made it: its own start-up is not the brokers'", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "3 seconds", setting: SETTING })
      // The client library loading and the layers building on a loaded machine, before any attempt.
      yield* TestClock.adjust("5 seconds")
      // A listener that wants TLS: its alert comes 100 ms into the first attempt, and is the outcome.
      const wantsTls = kafkaError(new KafkaRejected({ operation: "listTopics", detail: "the broker's listener wants TLS" }))
      const first = yield* Effect.forkChild(start(contact, Effect.andThen(Effect.sleep("100 millis"), Effect.fail(wantsTls)), Effect.void))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.await(first), Exit.fail(wantsTls))
      // And a refusal met by that first attempt is tried again within the wait, not given up at once.
      const later = yield* makeFirstContact({ brokers: BROKERS, wait: "3 seconds", setting: SETTING })
      yield* TestClock.adjust("5 seconds")
      let attempts = 0
      const fiber = yield* Effect.forkChild(start(later, Effect.suspend(() => ++attempts < 2 ? Effect.fail(refused) : Effect.void), Effect.void))
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      assert.strictEqual(attempts, 2)
    }))

  it.effect("the wait is the wait when the wall clock is set back an hour meanwhile, or forward", () =>
    Effect.gen(function*() {
      for (const step of [-3_600_000, 3_600_000]) {
        const stepped = yield* makeSteppedClock
        const fiber = yield* Effect.forkChild(Effect.gen(function*() {
          const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
          yield* start(contact, Effect.fail(refused), Effect.void)
        }).pipe(Effect.provideService(Clock.Clock, stepped.clock)))
        yield* TestClock.adjust("10 seconds")
        yield* stepped.step(step)
        yield* TestClock.adjust("40 seconds")
        assert.isUndefined(fiber.pollUnsafe(), `gave up before the wait, the clock stepped by ${step} ms`)
        yield* TestClock.adjust("12 seconds")
        const exit = fiber.pollUnsafe()
        yield* Fiber.interrupt(fiber)
        assert.isDefined(exit, `still waiting past the wait, the clock stepped by ${step} ms`)
        const error = Exit.findErrorOption(exit!)
        assert.isTrue(error._tag === "Some" && error.value instanceof BrokersUnreachable, `stepped by ${step} ms: ${String(exit)}`)
        assert.strictEqual((error as { value: BrokersUnreachable }).value.waitedSeconds, 60)
      }
    }))

  // The broker answered (topics listed), its topics kept failing to be made: the end of the wait said
  // "no Kafka broker answered ... Check the address", for ingest and produce alike.
  it.effect("a broker that answered while the start kept failing: the end of the wait says so, with the last failure", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      const notLed = kafkaError(new KafkaUnavailable({ operation: "createTopics", detail: "timed out waiting for the leaders of t" }))
      const ensureTopics = Effect.andThen(contact.answered, Effect.fail(notLed))
      const fiber = yield* Effect.forkChild(start(contact, ensureTopics, Effect.void))
      yield* TestClock.adjust("62 seconds")
      const exit = yield* Fiber.await(fiber)
      const error = Exit.findErrorOption(exit)
      assert.isTrue(error._tag === "Some" && error.value instanceof KafkaNotReady, String(exit))
      const message = (error as { value: KafkaNotReady }).value.message
      assert.strictEqual(
        message,
        `Kafka answered at 127.0.0.1:9099, but the start still failed 60 s after the first attempt: ${notLed.message}. ${SETTING} sets how long a first contact is waited for`
      )
    }))

  it.effect("after a first contact, an outage is waited out past the wait", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      let ensured = 0
      // The broker answered once, then went away: every later attempt is refused.
      const ensureTopics = Effect.suspend(() => ensured++ === 0 ? Effect.void : Effect.fail(refused))
      const fiber = yield* Effect.forkChild(start(contact, ensureTopics, Effect.fail(refused)))
      yield* TestClock.adjust("30 minutes")
      assert.isUndefined(fiber.pollUnsafe(), "gave up on a broker it had reached")
      assert.isAbove(ensured, 100)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("0 waits for a first contact as long as for an outage; other faults are not the brokers'", () =>
    Effect.gen(function*() {
      const forever = yield* makeFirstContact({ brokers: BROKERS, wait: 0, setting: SETTING })
      const fiber = yield* Effect.forkChild(start(forever, Effect.fail(refused), Effect.void))
      yield* TestClock.adjust("30 minutes")
      assert.isUndefined(fiber.pollUnsafe(), "gave up with no wait set")
      yield* Fiber.interrupt(fiber)

      // A registry that is down before the broker was reached is retried as before, and said as itself.
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      const registryDown = Object.assign(new Error("schema registry unreachable"), { retryable: true })
      const registry = yield* Effect.forkChild(contact.retry(Effect.fail(registryDown), "cannot start yet", "3 seconds", 100))
      yield* TestClock.adjust("2 minutes")
      assert.isUndefined(registry.pollUnsafe(), "a registry fault ended the wait for the brokers")
      yield* TestClock.adjust("5 minutes")
      const exit = yield* Fiber.await(registry)
      const error = Exit.findErrorOption(exit)
      assert.isTrue(error._tag === "Some" && error.value === registryDown, String(exit))
    }))

  it.effect("attempts run out: the fault goes up as it is, within the wait, with no wait, and after a first contact", () =>
    Effect.gen(function*() {
      const failsWith = (contact: FirstContact, error: unknown) =>
        Effect.gen(function*() {
          let attempts = 0
          const fiber = yield* Effect.forkChild(
            contact.retry(Effect.suspend(() => (attempts++, Effect.fail(error))), "waiting for Kafka", "1 second", 3)
          )
          yield* TestClock.adjust("5 seconds")
          const exit = yield* Fiber.await(fiber)
          const failure = Exit.findErrorOption(exit)
          assert.isTrue(failure._tag === "Some" && failure.value === error, String(exit))
          return attempts
        })
      // Within the wait: 3 more attempts, then the fault itself (not BrokersUnreachable).
      const within = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      assert.strictEqual(yield* failsWith(within, refused), 4)
      // No wait set: the same.
      const noWait = yield* makeFirstContact({ brokers: BROKERS, wait: 0, setting: SETTING })
      assert.strictEqual(yield* failsWith(noWait, refused), 4)
      // Reached once, then past the wait: an outage that outlasts the attempts is that outage.
      const reached = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      yield* reached.reached
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* failsWith(reached, refused), 4)
    }))

  it.effect("a failure not said retryable is not tried again; a broker's refusal past the wait goes up as itself", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      yield* TestClock.adjust("2 minutes")
      const rejected = kafkaError(new KafkaRejected({ operation: "createTopics", detail: "not authorized" }))
      for (const error of [rejected, new Error("a bug"), Object.assign(new Error("declined"), { retryable: false })]) {
        let attempts = 0
        const exit = yield* Effect.exit(
          contact.retry(Effect.suspend(() => (attempts++, Effect.fail(error))), "waiting for Kafka", "1 second", 3)
        )
        const failure = Exit.findErrorOption(exit)
        assert.isTrue(failure._tag === "Some" && failure.value === error, String(exit))
        assert.strictEqual(attempts, 1, error.message)
      }
    }))

  it.effect("the failure that uses up the attempts is said once, as the failure, not also as a wait", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      yield* contact.reached
      const attempt = contact.retry(Effect.fail(refused), "waiting for Kafka", "2 seconds", 2)
      for (let run = 0; run < 2; run++) {
        logged.length = 0
        const fiber = yield* Effect.forkChild(Effect.exit(attempt).pipe(Effect.provide(Logger.layer([capture]))))
        yield* TestClock.adjust("10 seconds")
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Exit.isFailure(exit))
        // Three attempts, two waits said; a second run of the same effect counts afresh.
        assert.strictEqual(logged.length, 2, logged.join("\n"))
      }
    }))

  it.effect("the time waited is said in whole seconds passed, never as much as the wait before it ends", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "5 seconds", setting: SETTING })
      const slowRefusal = Effect.andThen(Effect.sleep("4600 millis"), Effect.fail(refused))
      const fiber = yield* Effect.forkChild(contact.retry(slowRefusal, "waiting for Kafka", "2 seconds", 3).pipe(Effect.provide(Logger.layer([capture]))))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.await(fiber)
      assert.strictEqual(logged[0], `waiting for Kafka at 127.0.0.1:9099 (not reached yet: 4 s, giving up at 5 s): ${refused.message}`)
    }))

  it.effect("each failure tried again is said, with the time waited before a first contact", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      const attempt = contact.retry(Effect.fail(refused), "waiting for Kafka", "2 seconds", 2)
      const fiber = yield* Effect.forkChild(attempt.pipe(Effect.provide(Logger.layer([capture]))))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.await(fiber)
      assert.deepStrictEqual(logged.slice(0, 2), [0, 2].map((s) =>
        `waiting for Kafka at 127.0.0.1:9099 (not reached yet: ${s} s, giving up at 60 s): ${refused.message}`))
      // Reached: an outage is said as itself.
      logged.length = 0
      yield* contact.reached
      const after = yield* Effect.forkChild(attempt.pipe(Effect.provide(Logger.layer([capture]))))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.await(after)
      assert.deepStrictEqual(logged.slice(0, 2), [`waiting for Kafka: ${refused.message}`, `waiting for Kafka: ${refused.message}`])
      // No wait set: no time to give up at.
      logged.length = 0
      const forever = yield* makeFirstContact({ brokers: BROKERS, wait: 0, setting: SETTING })
      const unbounded = yield* Effect.forkChild(
        forever.retry(Effect.fail(refused), "waiting for Kafka", "2 seconds", 2).pipe(Effect.provide(Logger.layer([capture])))
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.await(unbounded)
      assert.strictEqual(logged[0], `waiting for Kafka at 127.0.0.1:9099 (not reached yet: 0 s): ${refused.message}`)
    }))
  // A broker alive but frozen (SIGSTOP) keeps the connection open and answers nothing: the attempt
  // neither fails nor ends, and the start said nothing until the wait ran out.
  it.effect("an attempt that gets no answer is said every few seconds while it waits, once however nested", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      const fiber = yield* Effect.forkChild(start(contact, Effect.never, Effect.void).pipe(Effect.provide(Logger.layer([capture]))))
      yield* TestClock.adjust("12 seconds")
      assert.deepStrictEqual(logged, [5, 10].map((s) =>
        `waiting for Kafka at 127.0.0.1:9099 (not reached yet: ${s} s, giving up at 60 s): no answer yet`))
      yield* TestClock.adjust("50 seconds")
      assert.isTrue(fiber.pollUnsafe() !== undefined, "the wait still ends")
      // Once reached, a slow answer is no longer the brokers' address in doubt: nothing said.
      logged.length = 0
      yield* contact.reached
      const slow = yield* Effect.forkChild(contact.retry(Effect.sleep("12 seconds"), "waiting for Kafka", "2 seconds", 2).pipe(Effect.provide(Logger.layer([capture]))))
      yield* TestClock.adjust("13 seconds")
      yield* Fiber.join(slow)
      assert.deepStrictEqual(logged, [])
    }))
})

describe("the first-contact wait is a bound, not a check between attempts", () => {
  /** BrokersUnreachable the fiber ended with, if it did. */
  const unreachable = (fiber: Fiber.Fiber<unknown, unknown>): BrokersUnreachable | undefined => {
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return undefined
    const error = Exit.findErrorOption(exit)
    assert.isTrue(error._tag === "Some" && error.value instanceof BrokersUnreachable, String(exit))
    return (error as { value: BrokersUnreachable }).value
  }

  it.effect("an attempt still under way when the wait runs out is cut short then, and its scope closed", () =>
    Effect.gen(function*() {
      // As kafkajs' connect in the clients' layer (the run's attempt), retrying by itself for long.
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      let closed = 0
      const connect = Effect.andThen(Effect.addFinalizer(() => Effect.sync(() => void closed++)), Effect.sleep("10 minutes"))
      const fiber = yield* Effect.forkChild(contact.retry(
        Effect.scoped(Effect.andThen(connect, contact.retry(contact.reached, "waiting for Kafka", "2 seconds", 150))),
        "cannot start yet",
        "3 seconds",
        100
      ))
      yield* TestClock.adjust("59 seconds")
      assert.isUndefined(fiber.pollUnsafe(), "gave up before the wait")
      yield* TestClock.adjust("1 second")
      const error = unreachable(fiber)
      assert.isDefined(error, "still waiting for the attempt at the end of the wait")
      assert.strictEqual(error!.waitedSeconds, 60)
      assert.include(error!.message, "an attempt still in progress")
      assert.strictEqual(closed, 1, "the interrupted attempt's scope was not closed")
    }))

  it.effect("refused, then an attempt that hangs: the failure at the wait names the last refusal", () =>
    Effect.gen(function*() {
      // As listTopics, the first contact with platformatic (the start's attempt, inside the run's).
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "10 seconds", setting: SETTING })
      let attempts = 0
      const ensureTopics = Effect.suspend(() => ++attempts < 3 ? Effect.fail(refused) : Effect.never)
      const fiber = yield* Effect.forkChild(start(contact, ensureTopics, Effect.void))
      yield* TestClock.adjust("10 seconds")
      const error = unreachable(fiber)
      assert.isDefined(error, "still waiting for the attempt at the end of the wait")
      assert.strictEqual(error!.waitedSeconds, 10)
      assert.include(error!.message, "ECONNREFUSED")
      assert.include(error!.message, "then an attempt still in progress")
      assert.strictEqual(attempts, 3)
    }))

  it.effect("cut short, the attempt's failure so far is named: what its client met while retrying by itself", () =>
    Effect.gen(function*() {
      // As kafkajs' connect: it retries a refused connect by itself for ~10 s, logging each refusal.
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "5 seconds", setting: SETTING })
      const connect = Effect.andThen(
        Effect.sync(() => contact.clientError("Connection error: connect ECONNREFUSED 127.0.0.1:9099")),
        Effect.never
      )
      const fiber = yield* Effect.forkChild(contact.retry(connect, "cannot start yet", "3 seconds", 100))
      yield* TestClock.adjust("5 seconds")
      const error = unreachable(fiber)
      assert.isDefined(error, "still waiting for the attempt at the end of the wait")
      assert.include(error!.message, "(last: an attempt still in progress, its client retrying after: Connection error: connect ECONNREFUSED 127.0.0.1:9099)")

      // What an earlier attempt's client met is not said of the one in progress, nor again what its failure says.
      const cases: Array<[string | undefined, string]> = [
        [undefined, ""],
        ["ECONNREFUSED 127.0.0.1:9099", ""],
        ["Connection timeout (127.0.0.1:9099)", ", its client retrying after: Connection timeout (127.0.0.1:9099)"]
      ]
      for (const [secondMet, said] of cases) {
        const again = yield* makeFirstContact({ brokers: BROKERS, wait: "10 seconds", setting: SETTING })
        let attempts = 0
        const attempt = Effect.suspend(() =>
          ++attempts === 1
            ? Effect.andThen(Effect.sync(() => again.clientError("Connection error: getaddrinfo EAI_AGAIN")), Effect.fail(refused))
            : Effect.andThen(Effect.sync(() => secondMet === undefined ? undefined : again.clientError(secondMet)), Effect.never)
        )
        const second = yield* Effect.forkChild(again.retry(attempt, "cannot start yet", "3 seconds", 100))
        yield* TestClock.adjust("10 seconds")
        const later = unreachable(second)
        assert.isDefined(later, "still waiting for the attempt at the end of the wait")
        assert.include(later!.message, `(last: ${refused.message}; then an attempt still in progress${said})`)
        assert.notInclude(later!.message, "EAI_AGAIN")
      }
    }))

  it.effect("a retry that ended leaves the bound to the one around it", () =>
    Effect.gen(function*() {
      // The run's attempt: a step retried on its own that succeeds without a broker, then a connect that hangs.
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "10 seconds", setting: SETTING })
      const fiber = yield* Effect.forkChild(contact.retry(
        Effect.andThen(contact.retry(Effect.void, "waiting for the registry", "2 seconds", 5), Effect.never),
        "cannot start yet",
        "3 seconds",
        100
      ))
      yield* TestClock.adjust("10 seconds")
      assert.isDefined(unreachable(fiber), "still waiting for the attempt at the end of the wait")
    }))

  it.effect("a failure not tried again is not the one waited out: the bound stays the brokers'", () =>
    Effect.gen(function*() {
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "10 seconds", setting: SETTING })
      const declined = Object.assign(new Error("declined"), { retryable: false })
      yield* Effect.exit(contact.retry(Effect.fail(declined), "cannot start yet", "3 seconds", 100))
      const fiber = yield* Effect.forkChild(contact.retry(Effect.never, "cannot start yet", "3 seconds", 100))
      yield* TestClock.adjust("10 seconds")
      const error = unreachable(fiber)
      assert.isDefined(error, "a failure that was not retried ended the bound")
      assert.notInclude(error!.message, "declined")
    }))

  it.effect("no sleep between attempts past the wait: the last attempt is at its end", () =>
    Effect.gen(function*() {
      // 3 s apart, 5 s: attempts at 0 and 3 s, then at 5 s (not 6 s), and the failure then.
      const contact = yield* makeFirstContact({ brokers: BROKERS, wait: "5 seconds", setting: SETTING })
      let attempts = 0
      const fiber = yield* Effect.forkChild(
        contact.retry(Effect.suspend(() => (attempts++, Effect.fail(refused))), "waiting for Kafka", "3 seconds", 100)
      )
      yield* TestClock.adjust("5 seconds")
      const error = unreachable(fiber)
      assert.isDefined(error, "slept past the wait")
      assert.strictEqual(error!.waitedSeconds, 5)
      assert.strictEqual(attempts, 3)
    }))

  it.effect("no bound once a broker answered, with no wait set, or while another fault is waited out", () =>
    Effect.gen(function*() {
      const hangs = (contact: FirstContact, attempt: Effect.Effect<void, unknown>) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(contact.retry(attempt, "cannot start yet", "3 seconds", 100))
          yield* TestClock.adjust("30 minutes")
          assert.isUndefined(fiber.pollUnsafe(), "cut short")
          yield* Fiber.interrupt(fiber)
        })
      // The run goes on after its start reached a broker (its attempt is the whole run).
      const reached = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      yield* hangs(reached, Effect.andThen(reached.retry(reached.reached, "waiting for Kafka", "2 seconds", 150), Effect.never))
      // 0: as long as an outage.
      const forever = yield* makeFirstContact({ brokers: BROKERS, wait: 0, setting: SETTING })
      yield* hangs(forever, Effect.never)
      // A schema registry that is down, then slow: its own limits, not the brokers'.
      const registry = yield* makeFirstContact({ brokers: BROKERS, wait: "60 seconds", setting: SETTING })
      const registryDown = Object.assign(new Error("schema registry unreachable"), { retryable: true })
      let attempts = 0
      yield* hangs(registry, Effect.suspend(() => ++attempts === 1 ? Effect.fail(registryDown) : Effect.never))
    }))
})

/** The wait for new partitions' leaders that both real clients' ensureTopics share, and ensureTopics over the clients' calls. */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger } from "effect"
import type { TopicSpec } from "../../../src/domain/wire.ts"
import { ensureTopicsWith, untilLed } from "../../../src/layers/kafka/ensureTopics.ts"
import { KafkaError, kafkaError, KafkaRejected, KafkaUnavailable, NotAuthorized } from "../../../src/services/KafkaSource.ts"

const quick = { timeoutMs: 200, pollMs: 5 }

/** A metadata probe answering each call from `answers` in turn, then the last one for ever. */
const probe = (answers: ReadonlyArray<boolean | Error>) => {
  let calls = 0
  const led = async () => {
    const a = answers[Math.min(calls++, answers.length - 1)]!
    if (a instanceof Error) throw a
    return a
  }
  return { led, calls: () => calls }
}

describe("untilLed", () => {
  it("polls until the metadata shows every partition led, a metadata error meanwhile counting as not yet", async () => {
    const p = probe([new Error("NOT_CONTROLLER"), false, false, true])
    await untilLed("createPartitions", ["market.equities.trades.asx"], p.led, quick)
    assert.strictEqual(p.calls(), 4)
  })

  it("past the deadline with leaders still missing: KafkaUnavailable naming the operation and topics", async () => {
    const error = await untilLed("createTopics", ["a", "b"], probe([false]).led, quick).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(error, KafkaError)
    const reason = (error as KafkaError).reason
    assert.instanceOf(reason, KafkaUnavailable)
    assert.strictEqual((reason as KafkaUnavailable).operation, "createTopics")
    assert.include((reason as KafkaUnavailable).detail, "a, b")
  })

  it("past the deadline with the metadata call failing: its own error, for the client's mapping", async () => {
    const refused = new Error("TOPIC_AUTHORIZATION_FAILED")
    const error = await untilLed("createTopics", ["a"], probe([refused]).led, quick).then(() => undefined, (e: unknown) => e)
    assert.strictEqual(error, refused)
  })
})

/**
 * A cluster as the clients' calls see it. `grow` refuses a count a topic already has, as a broker
 * answers CreatePartitions (INVALID_PARTITIONS), and any growth when `policy` says why;
 * `afterDescribe` runs after the first describe (another process acting meanwhile).
 */
const fakeCluster = (partitions: Map<string, number>, options: { readonly afterDescribe?: () => void; readonly policy?: string }) => {
  let described = 0
  const refuse = (detail: string) => Effect.fail(kafkaError(new KafkaRejected({ operation: "createPartitions", detail })))
  return ensureTopicsWith({
    list: () => Effect.sync(() => [...partitions.keys()]),
    create: (missing) => Effect.sync(() => (missing.forEach((s) => partitions.set(s.name, s.partitions)), [])),
    describe: (names) =>
      Effect.sync(() => {
        const out = names.map((name) => ({ name, partitions: partitions.get(name) ?? 0, config: {} }))
        if (described++ === 0) options.afterDescribe?.()
        return out
      }),
    grow: (topics: ReadonlyArray<TopicSpec>) =>
      Effect.forEach(topics, (s) =>
        options.policy !== undefined
          ? refuse(`POLICY_VIOLATION: ${options.policy}`)
          : (partitions.get(s.name) ?? 0) >= s.partitions
          ? refuse(`INVALID_PARTITIONS: Topic already has ${partitions.get(s.name)} partition(s).`)
          : Effect.sync(() => void partitions.set(s.name, s.partitions)), { discard: true }),
    alter: () => Effect.void
  })
}

describe("ensureTopicsWith", () => {
  const trades = "market.equities.trades.asx"

  it.effect("a topic another process grew since it was described (produce and ingest starting together) is as specified, not a failure", () =>
    Effect.gen(function*() {
      const partitions = new Map([[trades, 12]])
      const ensure = fakeCluster(partitions, { afterDescribe: () => partitions.set(trades, 24) })
      const result = yield* ensure([{ name: trades, partitions: 24 }])
      assert.deepStrictEqual(result.existing, [trades])
      assert.strictEqual(partitions.get(trades), 24)
    }))

  it.effect("a growth refused while the topic still has fewer partitions fails with the broker's reason", () =>
    Effect.gen(function*() {
      const ensure = fakeCluster(new Map([[trades, 12]]), { policy: "no more partitions" })
      const refused = yield* Effect.flip(ensure([{ name: trades, partitions: 24 }]))
      assert.instanceOf(refused.reason, KafkaRejected)
      assert.include(refused.message, "POLICY_VIOLATION")
    }))
})

/** The effect's exit and its log lines, each as "Level: message". */
const withLevels = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => void lines.push(`${logLevel}: ${String(message)}`))
    const exit = yield* Effect.exit(effect.pipe(Effect.provide(Logger.layer([logger]))))
    return { exit, lines }
  })

describe("ensureTopicsWith, an existing topic and K2's default partition count", () => {
  const trades = "market.equities.trades.asx"

  it.effect("a topic that exists keeps its partitions: K2's default (nobody asked for it) never moves another team's keys", () =>
    Effect.gen(function*() {
      const partitions = new Map([[trades, 3]])
      const { exit, lines } = yield* withLevels(fakeCluster(partitions, {})([{ name: trades, partitions: 12, partitionsByDefault: true }]))
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value : undefined, { created: [], existing: [trades], grown: [] })
      assert.strictEqual(partitions.get(trades), 3)
      assert.deepStrictEqual(lines.filter((l) => !l.startsWith("Debug")), [
        `Info: partitions kept as they are (${trades}: 3, K2's default is 12): an existing topic is grown only to a count asked for (--partitions, K2_TOPIC_PARTITIONS), as growing it moves keys to other partitions`
      ])
    }))

  it.effect("a topic K2 creates gets the default", () =>
    Effect.gen(function*() {
      const partitions = new Map<string, number>()
      const result = yield* fakeCluster(partitions, {})([{ name: trades, partitions: 12, partitionsByDefault: true }])
      assert.deepStrictEqual(result, { created: [trades], existing: [], grown: [] })
      assert.strictEqual(partitions.get(trades), 12)
    }))

  it.effect("a count asked for grows the topic, with a warning that its keys move to other partitions", () =>
    Effect.gen(function*() {
      const partitions = new Map([[trades, 3]])
      const { exit, lines } = yield* withLevels(fakeCluster(partitions, {})([{ name: trades, partitions: 12 }]))
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value : undefined, { created: [], existing: [trades], grown: [trades] })
      assert.strictEqual(partitions.get(trades), 12)
      assert.deepStrictEqual(lines.filter((l) => l.startsWith("Warn")), [
        `Warn: partitions added as asked (${trades}: 3 to 12): keys (symbols) now go to other partitions, so their order across the change is not kept, for every producer and consumer of the topic; sequence checks may report gaps or out-of-order around it`
      ])
    }))
})

describe("ensureTopicsWith, a principal of least privilege", () => {
  const trades = "market.equities.trades.asx"
  const dlq = `${trades}.dlq`
  const specs: ReadonlyArray<TopicSpec> = [{ name: trades, partitions: 12 }, { name: dlq, partitions: 1, retentionMs: 2_592_000_000 }]
  const refused = (operation: string, needs: string) =>
    Effect.fail(kafkaError(new NotAuthorized({ operation, code: "TOPIC_AUTHORIZATION_FAILED", resource: `topic ${trades}`, needs, principal: "User:k2" })))
  /** Topics a platform team made (2 partitions, the DLQ kept 7 days), and a principal that may only DESCRIBE them. */
  const described = (config: boolean) => (names: ReadonlyArray<string>) =>
    Effect.succeed(names.map((name) => ({
      name,
      partitions: name === dlq ? 1 : 2,
      ...(config ? { config: name === dlq ? { "retention.ms": "604800000" } : {} } : {})
    })))
  const logged = (effect: Effect.Effect<unknown, unknown>) =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      const exit = yield* Effect.exit(effect.pipe(Effect.provide(Logger.layer([logger]))))
      return { exit, lines: lines.join("\n") }
    })

  it.effect("existing topics whose configs it may not read are neither altered nor refused: a warning names those whose spec has configs left unchecked", () =>
    Effect.gen(function*() {
      let altered = 0
      const ensure = ensureTopicsWith({
        list: () => Effect.succeed([trades, dlq]),
        create: () => Effect.die("nothing is missing"),
        describe: described(false),
        grow: () => Effect.void,
        alter: () => Effect.sync(() => void altered++)
      })
      const { exit, lines } = yield* logged(ensure([{ name: trades, partitions: 2 }, specs[1]!]))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(altered, 0)
      // The source topic's spec names no config: nothing of it is unchecked (ADR-78).
      assert.include(lines, `the configs of ${dlq} (retention.ms=2592000000) could not be read (no DESCRIBE_CONFIGS)`)
      assert.include(lines, "To end this warning, grant DESCRIBE_CONFIGS on them")
      assert.notInclude(lines, trades + ",")
      assert.notInclude(lines, trades + " ")
    }))

  it.effect("partitions it may not add and configs it may not alter are left as they are, with a warning: not a failure", () =>
    Effect.gen(function*() {
      const ensure = ensureTopicsWith({
        list: () => Effect.succeed([trades, dlq]),
        create: () => Effect.die("nothing is missing"),
        describe: described(true),
        grow: () => refused("createPartitions", "ALTER"),
        alter: () => refused("alterConfigs", "ALTER_CONFIGS")
      })
      const { exit, lines } = yield* logged(ensure(specs))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value : undefined, { created: [], existing: [trades, dlq], grown: [] })
      assert.include(lines, `partitions left as they are (${trades}: 2 of 12)`)
      assert.include(lines, "not allowed ALTER on")
      assert.include(lines, `configs left as they are, not K2's (${dlq}: retention.ms=2592000000)`)
    }))

  it.effect("K2's default against a platform team's topics with fewer partitions asks for no ALTER: no refusal, no warning at every start", () =>
    Effect.gen(function*() {
      let grows = 0
      const ensure = ensureTopicsWith({
        list: () => Effect.succeed([trades, dlq]),
        create: () => Effect.die("nothing is missing"),
        describe: described(true),
        grow: () => Effect.andThen(Effect.sync(() => void grows++), refused("createPartitions", "ALTER")),
        alter: () => Effect.void
      })
      const { exit, lines } = yield* withLevels(ensure([{ ...specs[0]!, partitionsByDefault: true }, specs[1]!]))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(grows, 0)
      assert.deepStrictEqual(lines.filter((l) => l.startsWith("Warn")), [])
      assert.deepStrictEqual(lines.filter((l) => l.includes(trades)), [
        `Info: partitions kept as they are (${trades}: 2, K2's default is 12): an existing topic is grown only to a count asked for (--partitions, K2_TOPIC_PARTITIONS), as growing it moves keys to other partitions`
      ])
    }))

  it.effect("a count asked for that it may not add is warned of, saying how to end the warning", () =>
    Effect.gen(function*() {
      const ensure = ensureTopicsWith({
        list: () => Effect.succeed([trades, dlq]),
        create: () => Effect.die("nothing is missing"),
        describe: described(true),
        grow: () => refused("createPartitions", "ALTER"),
        alter: () => Effect.void
      })
      const { exit, lines } = yield* logged(ensure(specs))
      assert.isTrue(Exit.isSuccess(exit))
      assert.include(lines, `partitions left as they are (${trades}: 2 of 12)`)
      assert.include(lines, "have the topics grown (or grant ALTER on them), or ask for as many partitions as they have (--partitions, K2_TOPIC_PARTITIONS)")
    }))

  it.effect("a missing topic it may not create fails, refused", () =>
    Effect.gen(function*() {
      const ensure = ensureTopicsWith({
        list: () => Effect.succeed([trades]),
        create: () => refused("createTopics", "CREATE"),
        describe: described(true),
        grow: () => Effect.void,
        alter: () => Effect.void
      })
      const exit = yield* Effect.exit(ensure(specs))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "", "not allowed CREATE")
    }))
})

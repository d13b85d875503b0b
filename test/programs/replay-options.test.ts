/**
 * `npm run replay`'s options read in-process: a flag only another mode reads, given on the command
 * line, is refused (exit 2), as ingest refuses a flag of its other mode
 * (test/programs/ingest-options.test.ts). A bounded NDJSON replay talks to no broker and reads no
 * registry; --partitions is --topic's, --group and --topics are --follow's. The same settings from
 * their variables are not refused (a compose file sets them for every program). Every run here
 * stops at a usage error, before Kafka and the warehouse.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Exit, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { UsageError } from "../../src/programs/cli/common.ts"
import { replayCommand } from "../../src/programs/replay.ts"

/**
 * The program in-process. Its type still needs the KafkaSource of --follow in a replay to stdout,
 * which never reaches it (run.ts runs it the same way).
 */
const run = Command.runWith(replayCommand, { version: "0" })

/** What `args` end with, with `env` the only environment: the usage error, or the run's error past the options. */
const outcome = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-replay-options-"))
    const exit = yield* (run(["--warehouse", warehouse, ...args]).pipe(
      Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))
    ) as Effect.Effect<void, unknown>).pipe(Effect.exit)
    assert.deepStrictEqual(fs.readdirSync(warehouse), [], "the warehouse is untouched")
    return Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  })

/** The usage error `args` stop at. */
const refusal = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const error = yield* outcome(args, env)
    assert.instanceOf(error, UsageError, String(error))
    return (error as UsageError).message
  })

const range = ["--from", "2024-01-01", "--to", "2024-01-02"]
// Nothing listens on port 1: should a run slip past its options, it ends there (or at the missing warehouse).
const topic = ["--topic", "replayed.trades", "--brokers", "127.0.0.1:1"]
const follow = ["--from", "2024-01-01", "--follow", "--brokers", "127.0.0.1:1"]

describe("npm run replay, a flag its mode ignores", () => {
  it.effect("Kafka's flags in a replay to stdout: each named", () =>
    Effect.gen(function*() {
      for (
        const [flag, value] of [
          ["--brokers", "127.0.0.1:1"],
          ["--client", "kafkajs"],
          ["--schema-registry", "http://127.0.0.1:1"],
          ["--partitions", "3"],
          ["--group", "other"],
          ["--topics", "market.equities.trades.asx"]
        ] as const
      ) {
        const message = yield* refusal([...range, flag, value])
        assert.include(message, `${flag}: `, message)
        assert.include(message, "replay to stdout", message)
      }
      // Several at once: all named; the client's default given as a value is still given.
      assert.include(yield* refusal([...range, "--client", "platformatic", "--brokers", "127.0.0.1:1"]), "--brokers, --client: ")
    }), 60_000)

  it.effect("--follow's flags with --topic alone, --topic's with --follow alone", () =>
    Effect.gen(function*() {
      const withTopic = yield* refusal([...range, ...topic, "--group", "other", "--topics", "market.equities.trades.asx"])
      assert.include(withTopic, "--group, --topics: ", withTopic)
      assert.include(withTopic, "--follow", withTopic)
      const withFollow = yield* refusal([...follow, "--partitions", "3"])
      assert.include(withFollow, "--partitions: ", withFollow)
      assert.include(withFollow, "--topic", withFollow)
    }), 30_000)

  it.effect("each mode's own flags are not refused (the run goes on to find no warehouse)", () =>
    Effect.gen(function*() {
      for (
        const args of [
          [...range, ...topic, "--client", "kafkajs", "--partitions", "3"],
          [...follow, "--client", "kafkajs", "--group", "g", "--topics", "market.equities.trades.asx"],
          [...follow, "--topic", "replayed.trades", "--partitions", "3", "--group", "g"]
        ]
      ) {
        const error = yield* outcome(args)
        assert.notInstanceOf(error, UsageError, String(error))
        assert.include(String(error), "no warehouse at")
      }
    }), 30_000)

  it.effect("the same settings from their variables are not refused in a replay to stdout", () =>
    Effect.gen(function*() {
      const error = yield* outcome(range, {
        K2_KAFKA_BROKERS: "127.0.0.1:1",
        K2_KAFKA_CLIENT: "kafkajs",
        K2_SCHEMA_REGISTRY_URL: "http://127.0.0.1:1",
        K2_GROUP: "other",
        K2_TOPICS: "market.equities.trades.asx"
      })
      assert.notInstanceOf(error, UsageError, String(error))
      assert.include(String(error), "no warehouse at")
      // Not even read: a K2_KAFKA_BROKERS meant for another program does not stop a replay to stdout.
      const unread = yield* outcome(range, { K2_KAFKA_BROKERS: "not-a-broker-list" })
      assert.notInstanceOf(unread, UsageError, String(unread))
      assert.include(String(unread), "no warehouse at")
    }), 30_000)
})

describe("npm run replay --help", () => {
  it.effect("marks each flag one mode reads with its mode", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const capture: Console.Console = Object.assign(Object.create(console), {
        log: (...a: Array<unknown>) => void printed.push(a.join(" "))
      })
      yield* (run(["--help"]).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(Console.Console, capture)
      ) as Effect.Effect<void, unknown>)
      const help = printed.join("\n").replace(/\s+/g, " ")
      assert.include(help, "--topic and --follow: Kafka client library")
      assert.include(help, "--topic and --follow: Confluent-compatible schema registry URL")
      assert.include(help, "refused in a mode that ignores it")
    }))
})

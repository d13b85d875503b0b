/**
 * `npm run ingest`'s options read in-process (test/programs/ingest-usage.test.ts runs the program):
 * a flag of the other mode given on the command line is refused (exit 2), as `produce` refuses
 * --seed with --source asx; the same setting from its variable is not (a compose file sets them
 * for every program). Every run here stops at a usage error, before Kafka and the warehouse.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Console, Effect, Exit, Layer, Option } from "effect"
import { CliError, Command } from "effect/cli"
import { UsageError } from "../../src/programs/cli/common.ts"
import { ingestCommand } from "../../src/programs/ingest.ts"

/** The error `args` stop at, with `env` the only environment; the warehouse untouched. */
const stoppedAt = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-ingest-options-"))
    const exit = yield* Command.runWith(ingestCommand, { version: "0" })(["--warehouse", warehouse, ...args]).pipe(
      Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))),
      Effect.exit
    )
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.deepStrictEqual(fs.readdirSync(warehouse), [], `refused before the warehouse is touched (${String(error)})`)
    return error
  })

/** The usage error `args` stop at, with `env` the only environment; the warehouse untouched. */
const refusal = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const error = yield* stoppedAt(args, env)
    assert.instanceOf(error, UsageError, String(error))
    return (error as UsageError).message
  })

/** The flag value `args` stop at, refused by the CLI's parse (shown with the help), with `env` the only environment; the warehouse untouched. */
const invalidValue = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const error = yield* stoppedAt(args, env)
    assert.instanceOf(error, CliError.ShowHelp, String(error))
    const [invalid] = (error as CliError.ShowHelp).errors
    assert.instanceOf(invalid, CliError.InvalidValue, String(invalid))
    return (invalid as CliError.InvalidValue).message
  })

// Kept short should one slip through: a live run gives up on the closed port within a second,
// an embedded one ingests 20 events, and neither serves metrics.
const live = ["--brokers", "127.0.0.1:1", "--broker-wait", "1", "--metrics-port", "0"]
const embedded = ["--events", "1"]

describe("npm run ingest, a flag of the other mode", () => {
  it.effect("--events and --seed with --brokers: embedded default only", () =>
    Effect.gen(function*() {
      const message = yield* refusal([...live, "--events", "5000", "--seed", "7"])
      assert.include(message, "--events, --seed: ")
      assert.include(message, "embedded default")
    }), 30_000)

  it.effect("--events with K2_KAFKA_BROKERS (live mode from the variable)", () =>
    Effect.gen(function*() {
      const message = yield* refusal(["--broker-wait", "1", "--metrics-port", "0", "--events", "5000"], { K2_KAFKA_BROKERS: "127.0.0.1:1" })
      assert.include(message, "--events: ")
    }), 30_000)

  it.effect("live mode's flags in the embedded default: each named", () =>
    Effect.gen(function*() {
      for (
        const [flag, value] of [
          ["--metrics-port", "9999"],
          ["--metrics-host", "127.0.0.1"],
          ["--expire-every", "10"],
          ["--maintain-every", "10"],
          ["--broker-wait", "5"],
          ["--schema-registry", "http://127.0.0.1:1"],
          ["--client", "kafkajs"],
          // The in-process log has no group session: the value was taken and ignored.
          ["--session-timeout-ms", "45000"]
        ] as const
      ) {
        const message = yield* refusal([...embedded, flag, value])
        assert.include(message, `${flag}: `, message)
        assert.include(message, "live mode", message)
      }
      // Several at once: all named.
      assert.include(yield* refusal([...embedded, "--metrics-port", "0", "--expire-every", "0"]), "--expire-every, --metrics-port: ")
    }), 60_000)

  it.effect("a flag's default given as a value is still refused: it was given", () =>
    Effect.gen(function*() {
      assert.include(yield* refusal([...live, "--seed", "42"]), "--seed: ")
    }), 30_000)

  it.effect("the same settings from their variables are not refused in either mode (the next check is what refuses)", () =>
    Effect.gen(function*() {
      const liveVariables = {
        K2_METRICS_PORT: "9999",
        K2_METRICS_HOST: "127.0.0.1",
        K2_EXPIRE_EVERY_SECONDS: "10",
        K2_MAINTAIN_EVERY_SECONDS: "10",
        K2_KAFKA_BROKER_WAIT_SECONDS: "5",
        K2_SCHEMA_REGISTRY_URL: "http://127.0.0.1:1",
        K2_KAFKA_CLIENT: "kafkajs",
        K2_SESSION_TIMEOUT_MS: "45000"
      }
      // The embedded default's next refusal: topics it does not publish.
      const message = yield* refusal([...embedded, "--topics", "market.equities.trades.asx"], liveVariables)
      assert.include(message, "the embedded default publishes and ingests", message)
      // Live mode's: a registry without a trades and a quotes topic.
      const liveMessage = yield* refusal(
        ["--brokers", "127.0.0.1:1", "--topics", "reference.instruments.asx"],
        liveVariables
      )
      assert.include(liveMessage, "--schema-registry needs a trades and a quotes topic", liveMessage)
    }), 30_000)
})

describe("npm run ingest, settings refused before Kafka and the warehouse", () => {
  it.effect("a session timeout the Kafka clients cannot take: kafkajs throws at or under its 3 s heartbeat; past 2^31-1 ms less 10 s platformatic's request timer fires at once", () =>
    Effect.gen(function*() {
      for (const value of ["0", "3000", "2147473648", "2147483648"]) {
        const message = yield* invalidValue([...live, "--session-timeout-ms", value])
        assert.include(message, "--session-timeout-ms", message)
        assert.include(message, "6000..2147473647", message)
      }
      const fromEnv = yield* invalidValue(live, { K2_SESSION_TIMEOUT_MS: "1000" })
      assert.include(fromEnv, "(from K2_SESSION_TIMEOUT_MS)", fromEnv)
    }), 60_000)

  it.effect("a blank --adopt-marks-of (an unset shell variable): refused at once, not once the warehouse is open", () =>
    Effect.gen(function*() {
      for (const value of ["", " "]) {
        const message = yield* invalidValue([...live, "--adopt-marks-of", value])
        assert.include(message, "--adopt-marks-of", message)
        assert.include(message, "a consumer group name", message)
      }
    }), 30_000)

  it.effect("a --group holding whitespace: refused at once, where platformatic threw a stack trace once the warehouse's tables were made", () =>
    Effect.gen(function*() {
      // kafkajs takes one, but the tables' markers stay under the group for the next client too: one rule.
      for (const args of [live, embedded, [...live, "--client", "kafkajs"]]) {
        const message = yield* invalidValue([...args, "--group", "ingest prod"])
        assert.include(message, "--group", message)
        assert.include(message, "without whitespace", message)
      }
      const fromEnv = yield* invalidValue(live, { K2_GROUP: "k2\tingest" })
      assert.include(fromEnv, "(from K2_GROUP)", fromEnv)
    }), 30_000)

  it.effect("K2_DUCKDB_* checked with the other settings: the embedded default made the catalog first, live mode reached the brokers first", () =>
    Effect.gen(function*() {
      for (const args of [embedded, live]) {
        for (const [name, value] of [["K2_DUCKDB_THREADS", "abc"], ["K2_DUCKDB_CONNECTIONS", "0"], ["K2_DUCKDB_MEMORY_LIMIT", "512"]] as const) {
          const error = yield* stoppedAt(args, { [name]: value })
          assert.instanceOf(error, Config.ConfigError, String(error))
          assert.include(String(error), name)
        }
      }
    }), 60_000)
})

describe("npm run ingest --help", () => {
  it.effect("marks each flag one mode reads with its mode", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const capture: Console.Console = Object.assign(Object.create(console), {
        log: (...a: Array<unknown>) => void printed.push(a.join(" "))
      })
      yield* Command.runWith(ingestCommand, { version: "0" })(["--help"]).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(Console.Console, capture)
      )
      const help = printed.join("\n").replace(/\s+/g, " ")
      assert.include(help, "live mode: Kafka client library")
      assert.include(help, "live mode: Confluent-compatible schema registry URL")
      assert.include(help, "live mode: serve Prometheus metrics")
      assert.include(help, "(env K2_METRICS_PORT; 0..65535; default 9464)")
      assert.include(help, "embedded default only: simulated events per symbol (one trading day) (default 10000)")
      assert.include(help, "refused in the other mode")
    }))
})

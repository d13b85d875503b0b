/**
 * `npm run ingest` refuses bad options before it starts: the help and what is wrong, exit code 2,
 * whether the value comes from a flag or from its environment variable.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

// A scratch warehouse: should an option slip through, the run lands there, not in ./warehouse.
const refused = (args: ReadonlyArray<string>, says: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const warehouse = tempWarehouse()
    const run = spawnProgram("ingest", [...args], { K2_WAREHOUSE: warehouse, ...env })
    assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
    assert.include(run.output(), says)
    assert.deepStrictEqual(fs.readdirSync(warehouse), [], "refused before the warehouse is touched")
  })

describe.concurrent("npm run ingest, bad options", () => {
  it.effect("no partitions", () => refused(["--partitions", "0"], "Invalid value for flag --partitions"))

  // Each partition holds ~8 KB of heap for the whole run (docs/operations.md): 7000 and more (21,000
  // partitions) ran out of the 256 MB heap, exit 134, rather than being refused.
  it.effect("the embedded default: more partitions than its heap holds, named with the limit", () =>
    Effect.gen(function*() {
      yield* refused(["--partitions", "7001"], "--partitions 7001: the embedded default holds at most 7000")
      yield* refused([], "--partitions 10000: the embedded default holds at most 7000", { K2_TOPIC_PARTITIONS: "10000" })
    }), 30_000)

  it.effect("a flush of no rows", () => refused(["--flush-rows", "0"], "Invalid value for flag --flush-rows"))

  it.effect("a metrics port out of range, from the environment", () =>
    refused([], "Invalid value for flag --metrics-port", { K2_METRICS_PORT: "70000" }))

  // An operator's mistake, not a port another process took: ingest went on without metrics, a warning in its log.
  it.effect("a metrics host that cannot be resolved, or is no address of this machine", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--metrics-host", "no-such-host.invalid"], "--metrics-host no-such-host.invalid: cannot be resolved")
      // 192.0.2.1 (TEST-NET-1) is no interface's, from the variable.
      yield* refused(["--brokers", "127.0.0.1:1"], "K2_METRICS_HOST 192.0.2.1: not an address of this machine", { K2_METRICS_HOST: "192.0.2.1" })
    }), 60_000)

  it.effect("sequence tracker settings from the environment are read and checked", () =>
    Effect.gen(function*() {
      yield* refused([], "K2_SEQUENCE_CAPACITY", { K2_SEQUENCE_CAPACITY: "0" })
      yield* refused([], "K2_SEQUENCE_ZONES", { K2_SEQUENCE_ZONES: "ASX=Mars/Olympus" })
    }))

  it.effect("a schema registry that is not an http(s) URL (live mode retried it for minutes)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--metrics-port", "0", "--schema-registry", "registry:8081"], "--schema-registry")
      yield* refused(["--brokers", "127.0.0.1:1", "--metrics-port", "0"], "--schema-registry", { K2_SCHEMA_REGISTRY_URL: " " })
    }), 60_000)

  it.effect("an empty broker list (the client would quietly try localhost:9092)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", ""], "--brokers: \"\" is not a comma-separated list of host:port")
      yield* refused(["--brokers", "127.0.0.1:9092,"], "is not a comma-separated list of host:port")
    }))

  it.effect("K2_KAFKA_BROKERS set but empty (a template's missing value): refused, not taken for unset (the embedded default's simulated day)", () =>
    Effect.gen(function*() {
      yield* refused([], "K2_KAFKA_BROKERS is set but empty", { K2_KAFKA_BROKERS: "" })
      yield* refused([], "K2_KAFKA_BROKERS is set but empty", { K2_KAFKA_BROKERS: "  " })
    }), 30_000)

  it.effect("a broker port out of range (the client would retry it for minutes)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:65536"], "--brokers: \"127.0.0.1:65536\" is not")
      yield* refused(["--brokers", "127.0.0.1:0"], "--brokers: \"127.0.0.1:0\" is not")
    }), 30_000)

  it.effect("an in-memory catalog: its tables gone at exit, their files left behind blocked every later ingest in the warehouse", () =>
    refused(["--catalog", ":memory:", "--events", "5", "--symbol-count", "1"], "--catalog (K2_CATALOG) :memory:: an in-memory catalog forgets the tables"), 30_000)

  it.effect("an empty warehouse (it would be the working directory) or catalog name", () =>
    Effect.gen(function*() {
      yield* refused(["--warehouse", ""], "value for flag --warehouse")
      yield* refused(["--catalog-name", " "], "Invalid value for flag --catalog-name")
    }))

  it.effect("an empty metrics host (the server would listen on every interface, announced as http://:port)", () =>
    Effect.gen(function*() {
      yield* refused(["--metrics-host", "", "--events", "1"], "value for flag --metrics-host")
      yield* refused(["--metrics-host", " ", "--events", "1"], "value for flag --metrics-host")
    }), 30_000)

  it.effect("an empty consumer group (no marker key of its own; Kafka clients refuse it), from a flag or the environment", () =>
    Effect.gen(function*() {
      yield* refused(["--group", ""], "value for flag --group")
      yield* refused([], "Invalid value for flag --group", { K2_GROUP: " " })
    }))

  it.effect("a schema registry without a trades and a quotes topic to name its subjects", () =>
    refused(
      ["--brokers", "127.0.0.1:1", "--schema-registry", "http://127.0.0.1:1", "--topics", "reference.instruments.asx", "--metrics-port", "0"],
      "--schema-registry needs a trades and a quotes topic"
    ), 30_000)

  it.effect("the embedded default given topics other than the simulated day's", () =>
    Effect.gen(function*() {
      yield* refused(["--topics", "market.equities.trades.asx"], "the embedded default publishes and ingests")
      yield* refused(["--topics", ""], "the embedded default publishes and ingests")
    }))

  // The refusal named --topics for K2_TOPICS's value too: the user looked for a flag they never gave.
  it.effect("topics refused are named as given: --topics, or K2_TOPICS from the environment", () =>
    Effect.gen(function*() {
      yield* refused(["--topics", "market.equities.trades.asx"], "--topics: the embedded default publishes and ingests")
      yield* refused([], "K2_TOPICS: the embedded default publishes and ingests", { K2_TOPICS: "market.equities.trades.asx" })
      yield* refused([], "K2_TOPICS: not source topics: nope", { K2_TOPICS: "nope" })
      yield* refused(["--topics", "nope"], "--topics: not source topics: nope", { K2_TOPICS: "market.equities.trades.asx" })
    }), 30_000)

  it.effect("another group's markers: --adopt-marks-of and --separate-copy are live mode's, one at a time, and adopt another group", () =>
    Effect.gen(function*() {
      yield* refused(["--separate-copy"], "for live mode only")
      yield* refused(["--adopt-marks-of", "old"], "for live mode only")
      yield* refused(["--brokers", "127.0.0.1:1", "--separate-copy", "--adopt-marks-of", "old"], "give one of them")
      yield* refused(["--brokers", "127.0.0.1:1", "--group", "new", "--adopt-marks-of", "new"], "that is this run's --group")
    }))

  // Each refusal's wording: test/programs/cli-symbols.test.ts; here, that the program refuses before the warehouse.
  it.effect("a simulated symbol universe that repeats a symbol or counts 0, from a flag or its variable; or given to live mode", () =>
    Effect.gen(function*() {
      yield* refused(["--symbols", "AAA,BBB,AAA"], `--symbols: symbol "AAA" is given twice`)
      yield* refused([], "K2_SIM_SYMBOL_COUNT", { K2_SIM_SYMBOL_COUNT: "0" })
      yield* refused(["--brokers", "127.0.0.1:1", "--symbols", "AAA"], "--symbols: for the embedded default only")
    }))

  it.effect("--help names each option's environment variable and default", () =>
    Effect.gen(function*() {
      const run = spawnProgram("ingest", ["--help"])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      assert.include(run.output(), "(env K2_FLUSH_ROWS; default 15000)")
      assert.include(run.output(), "--symbols")
      assert.include(run.output(), "env K2_SIM_SYMBOLS")
      assert.include(run.output(), "env K2_SIM_SYMBOL_COUNT")
      // The embedded default runs no maintenance: its help must not promise it.
      assert.include(run.output(), "live mode: run table maintenance")
    }))
})

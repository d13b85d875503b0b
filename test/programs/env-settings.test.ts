/**
 * A flag's environment variable holding a value the flag would refuse: the usage error names the
 * variable and shows the value as given, as for the flag itself (it showed `"config"` and an
 * Effect SchemaError dump).
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, Console, Effect, Exit, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { envSetting, inRange, modeSetting, nonBlank, optionalSetting, optionalSourcedSetting, positive, setting, sourcedSetting } from "../../src/programs/cli/flags.ts"
import { clientFlag, type KafkaClient, partitionsFlag, schemaRegistryFlag } from "../../src/programs/cli/kafka.ts"
import { lakehouseFlags } from "../../src/programs/cli/lakehouse.ts"
import { parseFlag, refusal } from "../support/flags.ts"
import { ODD_NAME } from "../support/warehouse.ts"

const partitions = Flag.Int("partitions").pipe(setting("partitions", { env: "K2_TOPIC_PARTITIONS", read: Config.Int, fallback: 12 }))
const client = Flag.Literals("client", ["a", "b"]).pipe(setting("client", { env: "K2_CLIENT", read: (n) => Config.Literals(["a", "b"], n), fallback: "a" as "a" | "b" }))
const every = Flag.Int("every").pipe(envSetting("K2_MAINTENANCE_EVERY", Config.Int), Flag.optional)
const optional = Flag.Int("n").pipe(optionalSetting("n", { env: "K2_N", read: Config.Int }))
const ranged = Flag.Int("partitions").pipe(setting("partitions", { env: "K2_TOPIC_PARTITIONS", read: Config.Int, fallback: 12, check: inRange(1, 10_000) }))
const everyRanged = Flag.Int("every").pipe(envSetting("K2_MAINTENANCE_EVERY", Config.Int, inRange(1)), Flag.optional)
const group = Flag.String("group").pipe(setting("group", { env: "K2_GROUP", read: Config.String, fallback: "k2", check: nonBlank("a consumer group name") }))
const url = Flag.String("url").pipe(optionalSetting("url", { env: "K2_URL", read: Config.String, check: (u) => u.startsWith("http") ? undefined : "an http(s):// URL" }))

describe("flags read from the environment", () => {
  it.effect("a malformed variable is refused with its name and value, without Effect internals", () =>
    Effect.gen(function*() {
      for (
        const [flag, env, value] of [
          [partitions, "K2_TOPIC_PARTITIONS", "abc"],
          [partitions, "K2_TOPIC_PARTITIONS", "99999999999999999999"],
          [client, "K2_CLIENT", "c"],
          [every, "K2_MAINTENANCE_EVERY", "1.5"],
          [optional, "K2_N", "x"]
        ] as const
      ) {
        const message = refusal(yield* parseFlag(flag as Flag.Flag<unknown>, { [env]: value }))
        assert.include(message, `"${value}"`, message)
        assert.include(message, env, message)
        assert.notInclude(message, "SchemaError", message)
        assert.notInclude(message, `"config"`, message)
      }
    }))

  it.effect("a variable that parses but fails the flag's check is refused naming the variable; the flag's own value is not", () =>
    Effect.gen(function*() {
      for (
        const [flag, env, value, expected] of [
          [ranged, "K2_TOPIC_PARTITIONS", "0", "a value in 1..10000"],
          [everyRanged, "K2_MAINTENANCE_EVERY", "0", "a value of at least 1"],
          [group, "K2_GROUP", "  ", "a consumer group name"],
          [url, "K2_URL", "ftp://x", "an http(s):// URL"]
        ] as const
      ) {
        const message = refusal(yield* parseFlag(flag as Flag.Flag<unknown>, { [env]: value }))
        assert.include(message, `"${value}"`, message)
        assert.include(message, `${expected}`, message)
        assert.include(message, `(from ${env})`, message)
      }
      const fromFlag = refusal(yield* parseFlag(ranged, {}, { partitions: ["0"] }))
      assert.include(fromFlag, "a value in 1..10000", fromFlag)
      assert.notInclude(fromFlag, "K2_TOPIC_PARTITIONS", fromFlag)
      // A refused variable does not matter when the flag is given.
      assert.deepStrictEqual(yield* parseFlag(ranged, { K2_TOPIC_PARTITIONS: "0" }, { partitions: ["5"] }), Exit.succeed(5))
    }))

  it.effect("ingest's and produce's --partitions says whether it is K2's default: asked for by the flag or the variable, it is not", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseFlag(partitionsFlag, {}), Exit.succeed({ value: 12, byDefault: true }))
      assert.deepStrictEqual(yield* parseFlag(partitionsFlag, { K2_TOPIC_PARTITIONS: "12" }), Exit.succeed({ value: 12, byDefault: false }))
      assert.deepStrictEqual(yield* parseFlag(partitionsFlag, {}, { partitions: ["2"] }), Exit.succeed({ value: 2, byDefault: false }))
      assert.include(refusal(yield* parseFlag(partitionsFlag, { K2_TOPIC_PARTITIONS: "0" })), "K2_TOPIC_PARTITIONS")
    }))

  it.effect("a valid variable is read, the flag wins over it, and without either the default holds", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseFlag(partitions, { K2_TOPIC_PARTITIONS: "3" }), Exit.succeed(3))
      assert.deepStrictEqual(yield* parseFlag(partitions, { K2_TOPIC_PARTITIONS: "abc" }, { partitions: ["4"] }), Exit.succeed(4))
      assert.deepStrictEqual(yield* parseFlag(partitions, {}), Exit.succeed(12))
      assert.deepStrictEqual(yield* parseFlag(client, { K2_CLIENT: "b" }), Exit.succeed<"a" | "b">("b"))
      assert.deepStrictEqual(yield* parseFlag(every, { K2_MAINTENANCE_EVERY: "5" }), Exit.succeed(Option.some(5)))
      assert.deepStrictEqual(yield* parseFlag(every, {}), Exit.succeed(Option.none()))
      assert.deepStrictEqual(yield* parseFlag(optional, { K2_N: "7" }), Exit.succeed(Option.some(7)))
    }))
})

describe("flags' checks and defaults", () => {
  const limit = Flag.Int("limit").pipe(setting("rows", { fallback: 1000, check: inRange(1, 100_000) }))
  const events = Flag.Int("events").pipe(modeSetting("events", { fallback: 10_000, check: inRange(1) }))

  it.effect("a flag with a check and no variable refuses what the check fails, and takes both ends of its range", () =>
    Effect.gen(function*() {
      assert.include(refusal(yield* parseFlag(limit, {}, { limit: ["0"] })), "a value in 1..100000")
      assert.include(refusal(yield* parseFlag(limit, {}, { limit: ["100001"] })), "a value in 1..100000")
      assert.deepStrictEqual(yield* parseFlag(limit, {}, { limit: ["1"] }), Exit.succeed(1))
      assert.deepStrictEqual(yield* parseFlag(limit, {}, { limit: ["100000"] }), Exit.succeed(100_000))
      assert.deepStrictEqual(yield* parseFlag(limit, {}), Exit.succeed(1000))
    }))

  it.effect("a mode's flag is checked when given, and left absent (for the mode's default) when not", () =>
    Effect.gen(function*() {
      assert.include(refusal(yield* parseFlag(events, {}, { events: ["0"] })), "a value of at least 1")
      assert.deepStrictEqual(yield* parseFlag(events, {}, { events: ["1"] }), Exit.succeed(Option.some(1)))
      assert.deepStrictEqual(yield* parseFlag(events, {}), Exit.succeed(Option.none()))
    }))

  it.effect("a sourced setting says whether the command line gave it; its variable is read and checked but not counted as given", () =>
    Effect.gen(function*() {
      const port = Flag.Int("port").pipe(sourcedSetting("port", { env: "K2_PORT", read: Config.Int, fallback: 9464, check: inRange(0, 65_535) }))
      assert.deepStrictEqual(yield* parseFlag(port, {}), Exit.succeed({ value: 9464, given: false }))
      assert.deepStrictEqual(yield* parseFlag(port, { K2_PORT: "1" }), Exit.succeed({ value: 1, given: false }))
      assert.deepStrictEqual(yield* parseFlag(port, { K2_PORT: "1" }, { port: ["9464"] }), Exit.succeed({ value: 9464, given: true }))
      assert.include(refusal(yield* parseFlag(port, { K2_PORT: "70000" })), "(from K2_PORT)")
      assert.include(refusal(yield* parseFlag(port, {}, { port: ["70000"] })), "a value in 0..65535")
      const plain = Flag.Int("n").pipe(sourcedSetting("n", { fallback: 1, check: inRange(1) }))
      assert.deepStrictEqual(yield* parseFlag(plain, {}, { n: ["2"] }), Exit.succeed({ value: 2, given: true }))
      assert.include(refusal(yield* parseFlag(plain, {}, { n: ["0"] })), "a value of at least 1")
      const registry = Flag.String("url").pipe(optionalSourcedSetting("url", { env: "K2_URL", read: Config.String }))
      assert.deepStrictEqual(yield* parseFlag(registry, {}), Exit.succeed({ value: Option.none(), given: false }))
      assert.deepStrictEqual(yield* parseFlag(registry, { K2_URL: "http://a" }), Exit.succeed({ value: Option.some("http://a"), given: false }))
      assert.deepStrictEqual(yield* parseFlag(registry, {}, { url: ["http://b"] }), Exit.succeed({ value: Option.some("http://b"), given: true }))
    }))

  it.effect("a refused variable's message says what was expected, where it came from", () =>
    Effect.gen(function*() {
      const message = refusal(yield* parseFlag(ranged, { K2_TOPIC_PARTITIONS: "0" }))
      assert.include(message, "Expected: a value in 1..10000 (from K2_TOPIC_PARTITIONS)", message)
    }))

  it("positive refuses 0 and takes any number above it", () => {
    assert.strictEqual(positive(0), "a number above 0")
    assert.strictEqual(positive(-1), "a number above 0")
    assert.isUndefined(positive(0.001))
  })

  it.effect("the Kafka client is platformatic unless K2_KAFKA_CLIENT or --client says otherwise", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseFlag(clientFlag, {}), Exit.succeed<KafkaClient>("platformatic"))
      assert.deepStrictEqual(yield* parseFlag(clientFlag, { K2_KAFKA_CLIENT: "kafkajs" }), Exit.succeed<KafkaClient>("kafkajs"))
      assert.deepStrictEqual(yield* parseFlag(clientFlag, { K2_KAFKA_CLIENT: "kafkajs" }, { client: ["platformatic"] }), Exit.succeed<KafkaClient>("platformatic"))
    }))

  it.effect("a schema registry that is not an http(s) URL is refused (ingest retried it as a registry that is down)", () =>
    Effect.gen(function*() {
      assert.include(refusal(yield* parseFlag(schemaRegistryFlag, {}, { "schema-registry": ["localhost:8081"] })), "an http(s):// URL")
      assert.deepStrictEqual(
        yield* parseFlag(schemaRegistryFlag, { K2_SCHEMA_REGISTRY_URL: "http://localhost:8081" }),
        Exit.succeed(Option.some("http://localhost:8081"))
      )
    }))

  it.effect("the warehouse defaults to ./warehouse, takes glob characters, and refuses a path whose files DuckDB cannot read as themselves", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseFlag(lakehouseFlags.warehouse, {}), Exit.succeed("warehouse"))
      for (const dir of ["a*b", "a?b", "a[x]b", ODD_NAME, "a\\b", "/wh1/wh[1]"]) {
        assert.deepStrictEqual(yield* parseFlag(lakehouseFlags.warehouse, {}, { warehouse: [dir] }), Exit.succeed(dir), dir)
      }
      assert.include(refusal(yield* parseFlag(lakehouseFlags.warehouse, {}, { warehouse: ["a\\[x]b"] })), "it holds a backslash and [")
      assert.include(refusal(yield* parseFlag(lakehouseFlags.warehouse, {}, { warehouse: ["/wh*?/x"] })), "its first component, /wh*?, holds * ?")
    }))

  it.effect("a catalog URL of a scheme that names no catalog is refused, not taken for a SQLite file; a blank catalog name too", () =>
    Effect.gen(function*() {
      for (const url of ["postgress://db/k2", "HTTP://rest:8181", "ftp://x/catalog"]) {
        assert.include(refusal(yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: [url] })), "a SQLite file, a postgresql:// URL or an http(s):// URL", url)
      }
      for (const ok of ["postgres://db/k2", "postgresql://db/k2", "http://rest:8181", "https://rest", "catalog.db"]) {
        assert.deepStrictEqual(yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: [ok] }), Exit.succeed(Option.some(ok)), ok)
      }
      // fetch refuses a URL holding credentials in words that echo them; a REST catalog takes K2_REST_*.
      const withUser = refusal(yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: ["https://u:s3cret@rest"] }))
      assert.include(withUser, "without user info")
      assert.notInclude(withUser, "s3cret")
      assert.include(refusal(yield* parseFlag(lakehouseFlags.catalogName, {}, { "catalog-name": [" "] })), "a name")
      assert.deepStrictEqual(yield* parseFlag(lakehouseFlags.catalogName, {}), Exit.succeed("k2"))
    }))

  it.effect("--help shows an empty default as none (\"default )\" read as a slip)", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const capture: Console.Console = Object.assign(Object.create(console), { log: (...a: Array<unknown>) => void printed.push(a.join(" ")) })
      const command = Command.make("t", { topics: Flag.String("topics").pipe(setting("topics to follow", { fallback: "" })) })
      yield* Command.runWith(command, { version: "0" })(["--help"]).pipe(Effect.provide(NodeServices.layer), Effect.provideService(Console.Console, capture))
      assert.include(printed.join("\n"), "topics to follow (default none)")
    }))
})

/**
 * A flag's environment variable holding a value the flag would refuse: the usage error names the
 * variable and shows the value as given, as for the flag itself (it showed `"config"` and an
 * Effect SchemaError dump).
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { CliError, Flag } from "effect/cli"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { envSetting, inRange, nonBlank, optionalSetting, setting } from "../../src/programs/cli/flags.ts"

const parseWith = <A>(flag: Flag.Flag<A>, env: Record<string, string>, flags: Record<string, ReadonlyArray<string>> = {}) =>
  flag.parse({ arguments: [], flags }).pipe(
    Effect.map(([, value]) => value),
    Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))),
    Effect.exit
  )

const refusal = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "accepted")
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  assert.isTrue(error instanceof CliError.InvalidValue, String(error))
  return (error as CliError.InvalidValue).message
}

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
        const message = refusal(yield* parseWith(flag as Flag.Flag<unknown>, { [env]: value }))
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
        const message = refusal(yield* parseWith(flag as Flag.Flag<unknown>, { [env]: value }))
        assert.include(message, `"${value}"`, message)
        assert.include(message, `${expected}`, message)
        assert.include(message, `(from ${env})`, message)
      }
      const fromFlag = refusal(yield* parseWith(ranged, {}, { partitions: ["0"] }))
      assert.include(fromFlag, "a value in 1..10000", fromFlag)
      assert.notInclude(fromFlag, "K2_TOPIC_PARTITIONS", fromFlag)
      // A refused variable does not matter when the flag is given.
      assert.deepStrictEqual(yield* parseWith(ranged, { K2_TOPIC_PARTITIONS: "0" }, { partitions: ["5"] }), Exit.succeed(5))
    }))

  it.effect("a valid variable is read, the flag wins over it, and without either the default holds", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseWith(partitions, { K2_TOPIC_PARTITIONS: "3" }), Exit.succeed(3))
      assert.deepStrictEqual(yield* parseWith(partitions, { K2_TOPIC_PARTITIONS: "abc" }, { partitions: ["4"] }), Exit.succeed(4))
      assert.deepStrictEqual(yield* parseWith(partitions, {}), Exit.succeed(12))
      assert.deepStrictEqual(yield* parseWith(client, { K2_CLIENT: "b" }), Exit.succeed<"a" | "b">("b"))
      assert.deepStrictEqual(yield* parseWith(every, { K2_MAINTENANCE_EVERY: "5" }), Exit.succeed(Option.some(5)))
      assert.deepStrictEqual(yield* parseWith(every, {}), Exit.succeed(Option.none()))
      assert.deepStrictEqual(yield* parseWith(optional, { K2_N: "7" }), Exit.succeed(Option.some(7)))
    }))
})

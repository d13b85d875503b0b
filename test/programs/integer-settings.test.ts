/**
 * Every integer setting, flag or environment variable, takes one form: decimal digits (after a `-`
 * for a negative one) within 2^53 - 1. A flag's value went through Effect's number parse and took
 * `1e3`, `1.0`, `+5` and `-0`, its variable too, while a variable without a flag (K2_DUCKDB_*,
 * K2_SEQUENCE_*) took digits only: the same text was a setting in one place and refused in another.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option } from "effect"
import { Flag } from "effect/cli"
import { integerFlag, integerRead, setting } from "../../src/programs/cli/flags.ts"
import { partitionsFlag } from "../../src/programs/cli/kafka.ts"
import { DuckDb } from "../../src/layers/duckdb/DuckDb.ts"
import { fromEnv } from "../../src/layers/http/config.ts"
import { optionsFromConfig } from "../../src/layers/sequence/tracker.ts"
import { integerOf } from "../../src/layers/settings.ts"
import { parseFlag, refusal } from "../support/flags.ts"

/** Texts Number() reads as an integer that are no integer as written. */
const MALFORMED = ["1e3", "1.0", " 12", "12 ", "12abc", "0x10", "+5", "9007199254740993", "1_000", "Infinity"]

const FORM = "an integer (decimal digits only, at most 9007199254740991)"

const seed = integerFlag("seed").pipe(setting("seed", { fallback: 42 }))

/** The ConfigError's message of a setting without a flag, read from `env`. */
const configRefusal = <A>(read: Effect.Effect<A, unknown>, env: Record<string, string>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(read.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env))))
    assert.isTrue(Exit.isFailure(exit), `accepted ${JSON.stringify(env)}`)
    return String(Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined)
  })

describe("integer settings, one form", () => {
  it("integerOf takes decimal digits after an optional -, -0 as 0, and nothing else", () => {
    assert.strictEqual(integerOf("12"), 12)
    assert.strictEqual(integerOf("012"), 12)
    assert.strictEqual(integerOf("-5"), -5)
    assert.isTrue(Object.is(integerOf("-0"), 0))
    assert.strictEqual(integerOf("9007199254740991"), Number.MAX_SAFE_INTEGER)
    for (const text of MALFORMED) assert.isUndefined(integerOf(text), JSON.stringify(text))
  })

  it.effect("a flag refuses what is no integer as written, given on the command line or in its variable, saying the form", () =>
    Effect.gen(function*() {
      for (const text of MALFORMED) {
        const fromFlag = refusal(yield* parseFlag(partitionsFlag, {}, { partitions: [text] }))
        assert.include(fromFlag, `"${text}"`, fromFlag)
        assert.include(fromFlag, FORM, fromFlag)
        const fromEnv = refusal(yield* parseFlag(partitionsFlag, { K2_TOPIC_PARTITIONS: text }))
        assert.include(fromEnv, `"${text}"`, fromEnv)
        assert.include(fromEnv, `${FORM} (from K2_TOPIC_PARTITIONS)`, fromEnv)
      }
    }))

  it.effect("a flag takes what a variable without one takes, the same value either way", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseFlag(partitionsFlag, {}, { partitions: ["012"] }), Exit.succeed({ value: 12, byDefault: false }))
      assert.deepStrictEqual(yield* parseFlag(partitionsFlag, { K2_TOPIC_PARTITIONS: "7" }), Exit.succeed({ value: 7, byDefault: false }))
      // A negative integer where the setting allows one; "-0" is 0.
      assert.deepStrictEqual(yield* parseFlag(seed, {}, { seed: ["-3"] }), Exit.succeed(-3))
      const zero = yield* parseFlag(seed, {}, { seed: ["-0"] })
      assert.isTrue(Exit.isSuccess(zero) && Object.is(zero.value, 0))
      const variable = integerFlag("n").pipe(setting("n", { env: "K2_N", read: integerRead, fallback: 1 }))
      assert.deepStrictEqual(yield* parseFlag(variable as Flag.Flag<number>, { K2_N: "-0" }), Exit.succeed(0))
      assert.strictEqual(yield* integerRead("K2_N").parse(ConfigProvider.fromEnvRecord({ K2_N: "15" })), 15)
    }))

  it.effect("a variable without a flag (K2_DUCKDB_*, K2_SEQUENCE_*, K2_API_*) refuses the same texts, naming itself and its value", () =>
    Effect.gen(function*() {
      for (const text of MALFORMED) {
        for (
          const [name, read] of [
            ["K2_DUCKDB_THREADS", DuckDb.config],
            ["K2_SEQUENCE_CAPACITY", optionsFromConfig],
            ["K2_API_RATE_LIMIT", fromEnv]
          ] as const
        ) {
          const message = yield* configRefusal(read as Effect.Effect<unknown, unknown>, { K2_API_AUTH: "off", [name]: text })
          assert.include(message, name, message)
          assert.include(message, JSON.stringify(text), message)
          assert.include(message, "decimal digits only, at most 9007199254740991", message)
        }
      }
    }))
})

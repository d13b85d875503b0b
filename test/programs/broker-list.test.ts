/** `--brokers` accepts every way a user writes bootstrap servers, from a flag or an env file; --schema-registry needs topics to name subjects. */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { UsageError } from "../../src/programs/cli/common.ts"
import { brokerList, checkKafkajsLogLevel, checkRegistryTopics } from "../../src/programs/cli/kafka.ts"

describe("brokerList", () => {
  it("reads hostnames, IPv4, bracketed IPv6, spaces after commas and a trailing newline", () => {
    assert.deepStrictEqual(brokerList("localhost:9092"), ["localhost:9092"])
    assert.deepStrictEqual(
      brokerList("kafka-1.prod.example.com:9092, kafka-2:9093,10.0.0.7:19092,[::1]:9092\n"),
      ["kafka-1.prod.example.com:9092", "kafka-2:9093", "10.0.0.7:19092", "[::1]:9092"]
    )
    assert.deepStrictEqual(brokerList("127.0.0.1:65535"), ["127.0.0.1:65535"])
  })

  it("refuses a missing port, a bare IPv6 address and a port out of range", () => {
    for (const text of ["localhost", "::1:9092", "host:65536", "host:0", "host:099999"]) {
      assert.throws(() => brokerList(text), /is not a comma-separated list of host:port/, text)
    }
  })

  it("refuses a list with one bad entry among good ones, or an empty entry", () => {
    for (const text of ["localhost:9092,kafka-2", "kafka-1:9092,", "kafka-1:9092,,kafka-2:9092"]) {
      assert.throws(() => brokerList(text), /is not a comma-separated list of host:port/, text)
    }
  })
})

describe("checkRegistryTopics", () => {
  it("a registry needs a trades and a quotes topic to name its subjects; without a registry any topics do", () => {
    const registry = Option.some("http://registry:8081")
    assert.throws(() => checkRegistryTopics(registry, ["market.equities.trades.asx"]), UsageError)
    assert.throws(() => checkRegistryTopics(registry, ["market.equities.quotes.asx", "reference.instruments.asx"]), UsageError)
    assert.doesNotThrow(() => checkRegistryTopics(registry, ["market.equities.trades.asx", "market.equities.quotes.xnas"]))
    assert.doesNotThrow(() => checkRegistryTopics(Option.none(), ["market.equities.trades.asx"]))
  })
})

describe("checkKafkajsLogLevel", () => {
  it("takes kafkajs' levels in any case, and unset or empty; refuses another value listing them (verbose was ignored)", () => {
    for (const value of [undefined, "", "nothing", "error", "WARN", "Info", "debug"]) {
      assert.doesNotThrow(() => checkKafkajsLogLevel({ KAFKAJS_LOG_LEVEL: value }), String(value))
    }
    for (const value of ["verbose", "trace", "warning", " info"]) {
      assert.throws(
        () => checkKafkajsLogLevel({ KAFKAJS_LOG_LEVEL: value }),
        `KAFKAJS_LOG_LEVEL: ${JSON.stringify(value)} is not one of nothing, error, warn, info, debug (any case)`
      )
    }
  })
})

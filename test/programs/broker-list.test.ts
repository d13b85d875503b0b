/** `--brokers` accepts every way a user writes bootstrap servers, from a flag or an env file. */
import { assert, describe, it } from "@effect/vitest"
import { brokerList } from "../../src/programs/cli/kafka.ts"

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
})
